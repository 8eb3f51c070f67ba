import { z } from "zod";
import { VERSION } from "../version.js";
import { apiErrorSchema, securitySchemes, tags } from "./common.js";
import { isJsonReply, type Operation } from "./operation.js";
import { hubOperations } from "./operations.js";

type Json = Record<string, unknown>;

const SESSION = [{ bearer: [] }, { sessionCookie: [] }];
const SECURITY: Record<Operation["security"], Json[] | undefined> = { none: undefined, session: SESSION, optional: [{}, ...SESSION] };

/**
 * The OpenAPI 3.1 document of the operations, generated from their zod schemas: a schema with a
 * `.meta({ id })` becomes a component (referenced wherever it is used), anything else is inline.
 * cmd/openapi-doc writes it to internal/hub/http/openapi.json; a test fails when that file is stale.
 */
export function openApiDocument(ops: readonly Operation[] = hubOperations): Json {
  const components = new ComponentSchemas();
  const paths: Record<string, Json> = {};
  for (const op of ops) {
    const item = (paths[op.path] ??= {});
    const method = op.method.toLowerCase();
    if (item[method]) throw new Error(`${op.method} ${op.path} is declared twice`);
    item[method] = operationObject(op, components);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "rental-hub",
      version: VERSION,
      summary: "The GPU rental hub's REST API, its live event stream and its dashboard.",
      description:
        'Every non-2xx answer is `{"error":{"code","message"}}` with a stable code. Sign in with Sign-In with Ethereum (EIP-4361): GET /v1/auth/nonce, then POST /v1/auth/verify; the answer\'s token works as a bearer token, and browsers get the same token as the HttpOnly cookie `gpunode_session`. Wei amounts are decimal strings: they do not fit a double. Generated from the hub\'s route declarations (internal/hubapi): a response carries exactly the fields its schema names.',
    },
    servers: [{ url: "/" }],
    tags,
    paths,
    components: { securitySchemes, schemas: components.sorted() },
  };
}

/** The document as cmd/openapi-doc writes it: two-space indented, with a final newline. */
export function openApiDocumentText(ops: readonly Operation[] = hubOperations): string {
  return `${JSON.stringify(openApiDocument(ops), null, 2)}\n`;
}

function operationObject(op: Operation, components: ComponentSchemas): Json {
  const names = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? "");
  const declared = Object.keys(op.params?.shape ?? {});
  if (names.join() !== declared.join()) throw new Error(`${op.method} ${op.path}: params declare [${declared.join(", ")}], the path names [${names.join(", ")}]`);
  const parameters = [...parametersOf(op.params, "path", components), ...parametersOf(op.query, "query", components)];
  const reply = op.reply;
  const responses: Record<string, Json> = {};
  const headers = reply.headers && Object.fromEntries(Object.entries(reply.headers).map(([name, h]) => [name, { description: h.description, schema: { type: "string" } }]));
  const content = isJsonReply(reply)
    ? { "application/json": { schema: components.convert(reply.schema, "output") } }
    : Object.fromEntries(Object.entries(reply.content).map(([type, schema]) => [type, { schema: components.convert(schema, "output") }]));
  responses[reply.status] = { description: reply.description, ...(headers ? { headers } : {}), ...(Object.keys(content).length > 0 ? { content } : {}) };
  for (const [status, description] of Object.entries(op.bodiless ?? {})) responses[status] = { description };
  const error = { "application/json": { schema: components.convert(apiErrorSchema, "output") } };
  for (const [status, description] of Object.entries(op.errors ?? {})) responses[status] = { description, content: error };
  const security = SECURITY[op.security];
  return {
    tags: op.tags,
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(security ? { security } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body ? { requestBody: { required: true, ...(op.body.description ? { description: op.body.description } : {}), content: { "application/json": { schema: components.convert(op.body.schema, "input") } } } } : {}),
    responses,
    ...(!isJsonReply(reply) && reply.events ? { "x-event-schemas": Object.fromEntries(Object.entries(reply.events).map(([name, schema]) => [name, components.convert(schema, "output")])) } : {}),
  };
}

/** One parameter per property of the object, its description lifted to the parameter. */
function parametersOf(schema: z.ZodObject | undefined, where: "path" | "query", components: ComponentSchemas): Json[] {
  if (!schema) return [];
  const object = components.convert(schema, "input") as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: where, ...(where === "path" || object.required?.includes(name) ? { required: true } : {}), ...(description ? { description } : {}), schema: rest };
  });
}

/** components.schemas, filled as operations are converted; one id is one schema, whichever operation met it first. */
class ComponentSchemas {
  private readonly schemas = new Map<string, Json>();

  /** The JSON Schema of a request (`input`: defaults make fields optional) or a response (`output`). */
  convert(schema: z.ZodType, io: "input" | "output"): Json {
    const { $schema: _dialect, $defs, ...root } = z.toJSONSchema(schema, { io, target: "draft-2020-12", unrepresentable: "throw", override: tidy }) as Json & { $defs?: Record<string, Json> };
    for (const [id, def] of Object.entries($defs ?? {})) this.add(id, toComponentRefs(def) as Json);
    return toComponentRefs(root) as Json;
  }

  sorted(): Record<string, Json> {
    return Object.fromEntries([...this.schemas.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  private add(id: string, schema: Json): void {
    const known = this.schemas.get(id);
    if (known && JSON.stringify(known) !== JSON.stringify(schema)) {
      throw new Error(`the schema with id ${id} converts to two different JSON Schemas (one id for two zod schemas, or one used in a request and a response): give each its own id`);
    }
    this.schemas.set(id, schema);
  }
}

function toComponentRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toComponentRefs);
  if (!node || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, key === "$ref" && typeof value === "string" ? value.replace(/^#\/\$defs\//, "#/components/schemas/") : toComponentRefs(value)]),
  );
}

/** Drops what zod adds that says nothing to a reader: the safe-integer bounds of every int, the regex behind date-time. */
function tidy({ jsonSchema }: { jsonSchema: Json }): void {
  if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
  if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
  if (jsonSchema.format === "date-time") delete jsonSchema.pattern;
}
