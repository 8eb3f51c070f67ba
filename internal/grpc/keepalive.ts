import type { ChannelOptions } from "@grpc/grpc-js";

/**
 * grpc-js sends no keepalive pings unless asked. Both ends ping, so a half-open TCP
 * connection (NAT timeout, pulled cable) is noticed within about 30 s instead of never.
 */
export const KEEPALIVE_OPTIONS: ChannelOptions = {
  "grpc.keepalive_time_ms": 20_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 10_000,
};
