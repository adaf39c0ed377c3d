import net from 'node:net';

/** How bytes travel between a client and the upstream; plain piping unless a proxy says otherwise. */
export type Wiring = (client: net.Socket, upstream: net.Socket) => void;

const pipeBoth: Wiring = (client, upstream) => void client.pipe(upstream).pipe(client);

/** A TCP forwarder to `host:port` that can cut its clients off and let them back. */
export async function startTcpProxy(host: string, port: number, wire: Wiring = pipeBoth) {
  const open = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = net.connect(port, host);
    open.add(client).add(upstream);
    wire(client, upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cutOff() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      cut = false;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
