import { Server, ServerCredentials } from "@grpc/grpc-js";
import { KEEPALIVE_OPTIONS } from "../../grpc/keepalive.js";
import { formatHostPort, type HostPort } from "../../grpc/host-port.js";
import { HubChannelServiceService, type HubChannelServiceServer } from "../../proto/gen/gpunode/v1/gpunode.js";

export interface HubGrpcTls {
  caCertPem: string;
  keyPem: string;
  certPem: string;
}

/** The node-facing gRPC server: mutual TLS, and only certificates issued by the hub CA get in. */
export async function startHubGrpcServer(listen: HostPort, tls: HubGrpcTls, service: HubChannelServiceServer): Promise<{ server: Server; port: number }> {
  const server = new Server({ ...KEEPALIVE_OPTIONS, "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  server.addService(HubChannelServiceService, service);
  const creds = ServerCredentials.createSsl(
    Buffer.from(tls.caCertPem),
    [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }],
    true, // checkClientCertificate: no certificate from our CA, no connection
  );
  const bind = (address: string) => new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (err, bound) => (err ? reject(err) : resolve(bound))));
  if (listen.host !== "") return { server, port: await bind(formatHostPort(listen)) };
  // All interfaces: IPv6 and IPv4 where the host has IPv6, IPv4 alone where it has none (many containers).
  try {
    return { server, port: await bind(`[::]:${listen.port}`) };
  } catch {
    return { server, port: await bind(`0.0.0.0:${listen.port}`) };
  }
}
