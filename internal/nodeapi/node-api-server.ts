import { Server, ServerCredentials, status as GrpcStatus } from "@grpc/grpc-js";
import { isHubPeer } from "../certs/identity.js";
import type { NodeCredentials } from "../certs/cert-dir.js";
import { KEEPALIVE_OPTIONS } from "../grpc/keepalive.js";
import { stopGrpcServer } from "../grpc/stop-server.js";
import { type GetStatusResponse, NodeApiServiceService, type NodeApiServiceServer } from "../proto/gen/gpunode/v1/gpunode.js";

export interface NodeApiDeps {
  status(): Promise<GetStatusResponse>;
}

/**
 * The node's own gRPC API on -api-port. Mutual TLS with the hub CA, and then only the hub's
 * identity may call: another node's certificate from the same CA is refused.
 */
export class NodeApiServer {
  private server?: Server;

  constructor(
    private readonly opts: { host: string; port: number },
    private readonly deps: NodeApiDeps,
  ) {}

  /** (Re)binds with the given credentials; after a certificate rotation it is called again. */
  async start(creds: NodeCredentials): Promise<void> {
    await this.stop();
    const server = new Server(KEEPALIVE_OPTIONS);
    server.addService(NodeApiServiceService, this.service);
    const tls = ServerCredentials.createSsl(Buffer.from(creds.caCertPem), [{ private_key: Buffer.from(creds.keyPem), cert_chain: Buffer.from(creds.serverCertPem) }], true);
    await new Promise<number>((resolve, reject) => server.bindAsync(`${this.opts.host}:${this.opts.port}`, tls, (err, port) => (err ? reject(err) : resolve(port))));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await stopGrpcServer(server, 1_000);
  }

  private readonly service: NodeApiServiceServer = {
    getStatus: (call, callback) => {
      if (!isHubPeer(call.getAuthContext()?.sslPeerCertificate)) {
        return callback({ code: GrpcStatus.PERMISSION_DENIED, details: "only the hub may call the node API" });
      }
      this.deps.status().then(
        (res) => callback(null, res),
        (err: Error) => callback({ code: GrpcStatus.INTERNAL, details: err.message }),
      );
    },
  };
}
