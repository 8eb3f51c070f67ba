import { Server, type ServerCredentials } from "@grpc/grpc-js";
import { KEEPALIVE_OPTIONS } from "../../grpc/keepalive.js";
import { formatHostPort, type HostPort } from "../../grpc/host-port.js";
import { HubChannelServiceService, type HubChannelServiceServer } from "../../proto/gen/gpunode/v1/gpunode.js";

/** The node-facing gRPC server: mutual TLS (`creds` must require a client certificate from the hub CA). */
export async function startHubGrpcServer(listen: HostPort, creds: ServerCredentials, service: HubChannelServiceServer): Promise<{ server: Server; port: number }> {
  const server = new Server({ ...KEEPALIVE_OPTIONS, "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  server.addService(HubChannelServiceService, service);
  const bind = (address: string) => new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (err, bound) => (err ? reject(err) : resolve(bound))));
  if (listen.host !== "") return { server, port: await bind(formatHostPort(listen)) };
  // All interfaces: IPv6 and IPv4 where the host has IPv6, IPv4 alone where it has none (many containers).
  try {
    return { server, port: await bind(`[::]:${listen.port}`) };
  } catch {
    return { server, port: await bind(`0.0.0.0:${listen.port}`) };
  }
}
