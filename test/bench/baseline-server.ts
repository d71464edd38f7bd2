// The baseline of scenario (b): the least any OpAMP WS server must do per message. A bare `ws`
// server that strips the frame header, decodes the AgentToServer with protobuf-es and answers a
// ServerToAgent (uid + capabilities). No bus, no state, no persistence: our pipeline's
// throughput is reported as a fraction of this one, measured in the same run with the same
// clients on the same machine.
//
//   node --import @swc-node/register/esm-register test/bench/baseline-server.ts <port>
//
// Serves GET /readyz for the harness; exits on SIGTERM/SIGINT.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createServer } from 'node:http';
import { WebSocketServer, type RawData } from 'ws';
import { AgentToServerSchema, ServerToAgentSchema } from '@opamp/proto';
import { SERVER_CAPABILITIES, decodeWsFrame, encodeWsFrame } from '@opamp/protocol';

const port = Number(process.argv[2] ?? 0);
const server = createServer((req, res) => {
  res.writeHead(req.url === '/readyz' || req.url === '/healthz' ? 200 : 404).end();
});
const wss = new WebSocketServer({ server, path: '/v1/opamp', perMessageDeflate: false, clientTracking: false });
let messages = 0;

wss.on('connection', (ws) => {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) return ws.close(1003);
    const frame = decodeWsFrame(data as Buffer);
    if (!frame.ok) return ws.close(1003);
    let instanceUid: Uint8Array;
    try {
      instanceUid = fromBinary(AgentToServerSchema, frame.data).instanceUid;
    } catch {
      return ws.close(1003);
    }
    messages++;
    const reply = create(ServerToAgentSchema, { instanceUid, capabilities: SERVER_CAPABILITIES });
    ws.send(encodeWsFrame(toBinary(ServerToAgentSchema, reply)), { binary: true });
  });
  ws.on('error', () => undefined);
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(`baseline listening on ${typeof address === 'object' && address ? address.port : port}`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    console.log(`baseline answered ${messages} messages`);
    process.exit(0);
  });
}
