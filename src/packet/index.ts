/**
 * Packet codecs: pure functions over (buffer, offset, end). Decoders fill caller-owned views and return
 * 0 or a `Drop` code; writers return the bytes written. Nothing here allocates per packet or throws.
 */
export * from './checksum.ts';
export * from './ethernet.ts';
export * from './ipv4.ts';
export * from './ipv6.ts';
export * from './udp.ts';
export * from './icmp.ts';
export * from './vxlan.ts';
export * from './ipip.ts';
