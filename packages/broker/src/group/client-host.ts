/**
 * The client host as Kafka reports it in DescribeGroups (Java's `InetAddress.toString()` of an
 * address without a name: "/127.0.0.1"), from a connection's `address:port`.
 */
export function clientHostOf(clientAddress: string): string {
  const portSeparator = clientAddress.lastIndexOf(':');
  const address = portSeparator < 0 ? clientAddress : clientAddress.slice(0, portSeparator);
  return `/${address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address}`;
}
