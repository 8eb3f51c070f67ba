import { z } from "zod";
import { operation } from "./operation.js";

export const health = operation({
  method: "GET",
  path: "/healthz",
  operationId: "health",
  tags: ["hub"],
  summary: "Liveness and the hub's version",
  security: "none",
  reply: { status: 200, description: "The hub is up", schema: z.object({ ok: z.literal(true), version: z.string() }) },
});

export const getCa = operation({
  method: "GET",
  path: "/v1/ca",
  operationId: "getCa",
  tags: ["hub"],
  summary: "The hub's CA certificate and its fingerprint (pin it with node-daemon -hub-ca-fingerprint)",
  security: "none",
  reply: { status: 200, description: "The CA", schema: z.object({ caCertPem: z.string(), fingerprint: z.string().meta({ examples: ["sha256:4f2a..."] }) }) },
});

export const getCaPem = operation({
  method: "GET",
  path: "/v1/ca.pem",
  operationId: "getCaPem",
  tags: ["hub"],
  summary: "The hub's CA certificate as a PEM file",
  security: "none",
  reply: { status: 200, description: "PEM", content: { "application/x-pem-file": z.string() } },
});

export const openApi = operation({
  method: "GET",
  path: "/v1/openapi.json",
  operationId: "openApi",
  tags: ["hub"],
  summary: "This document",
  security: "none",
  reply: { status: 200, description: "OpenAPI 3.1, generated from the hub's route declarations", schema: z.record(z.string(), z.unknown()) },
});

export const dashboard = operation({
  method: "GET",
  path: "/",
  operationId: "dashboard",
  tags: ["dashboard"],
  summary: "The dashboard page",
  security: "none",
  reply: { status: 200, description: "HTML", content: { "text/html": z.string() } },
  bodiless: { 304: "Not modified (If-None-Match)" },
});

export const dashboardFile = operation({
  method: "GET",
  path: "/dashboard/{file}",
  operationId: "dashboardFile",
  tags: ["dashboard"],
  summary: "The dashboard's JavaScript modules and style sheets, uPlot's (its charts) served from the hub's npm package",
  security: "none",
  params: z.object({ file: z.string().meta({ examples: ["app.js", "app.css", "uPlot.esm.js", "uPlot.min.css"] }) }),
  reply: { status: 200, description: "The file", content: { "text/javascript": z.string(), "text/css": z.string() } },
  errors: { 404: "not_found" },
  bodiless: { 304: "Not modified (If-None-Match)" },
});
