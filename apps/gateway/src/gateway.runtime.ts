// Node/V8 flags the gateway process runs with: `npm start`, `npm run bench` and container images
// pass them on the node command line (V8 sizes its heap before any JavaScript runs, so the
// gateway cannot set them itself).
//
// Under a high allocation rate V8 grows the young generation up to 64 MiB per semi-space, which
// stays committed and resident (128 MiB). The gateway allocates mostly short-lived per-message
// garbage; a 16 MiB semi-space keeps up with it, and at 10k WS connections it holds resident
// memory at ~4.5 KiB per connection instead of ~13 KiB (docs/performance.md).
export const GATEWAY_NODE_ARGS: readonly string[] = ['--max-semi-space-size=16'];
