// Interop peer (CommonJS, so NODE_PATH can point at .peers/node/node_modules): the official Node socket.io server (npm socket.io v4) at path /sync/io.
// Prints {"port": N} on stdout once listening on 127.0.0.1, then serves until killed.
const { createServer } = require("node:http");
const { Server } = require("socket.io");

const httpServer = createServer();
const io = new Server(httpServer, {
  path: "/sync/io",
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  connectTimeout: 2000,
  transports: (process.env.TRANSPORTS || "polling,websocket").split(","),
});

io.use((socket, next) =>
  socket.handshake.auth?.token === "bad"
    ? next(Object.assign(new Error("unauthorized"), { data: { why: "bad token" } }))
    : next());

const connections = new Set();
httpServer.on("connection", (c) => {
  connections.add(c);
  c.on("close", () => connections.delete(c));
});

const onConnection = (socket) => {
  socket.emit("auth", socket.handshake.auth);
  socket.on("echo", (...args) => {
    const ack = typeof args.at(-1) === "function" ? args.pop() : null;
    if (ack) ack(...args); else socket.emit("echo-back", ...args);
  });
  socket.on("ask", () => {
    socket.emit("question", "meaning?", (...answer) => socket.emit("answer-received", ...answer));
  });
  socket.on("blob", (n) => socket.emit("blob-back", Buffer.from([1, 2, 3, n]), { nested: Buffer.from("hi") }));
  socket.on("kick", () => socket.disconnect(true));
  // A clean Engine.IO close: the server ends the session, no Socket.IO DISCONNECT.
  socket.on("close_engine", () => socket.conn.close());
  // An abrupt cut: every TCP connection reset (RST), as a crashed server or a dropped NAT
  // entry would leave them.
  socket.on("cut", () => { for (const c of connections) c.resetAndDestroy(); });
};
io.on("connection", onConnection);
io.of("/admin").on("connection", onConnection);

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});
