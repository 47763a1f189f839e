// Serves local MLC artifacts to web-llm over loopback HTTP (127.0.0.1, ephemeral port), so nothing
// is fetched from the network: GET /model/resolve/main/<file> → files of the MLC folder (web-llm
// appends resolve/main/ to model URLs), GET /lib/<name>.wasm → the compiled model library.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, join, normalize } from 'node:path';

export interface ArtifactServer {
  modelUrl: string;
  libUrl: string;
  close(): Promise<void>;
}

export async function serveMlcArtifacts(mlcDir: string, libFile: string): Promise<ArtifactServer> {
  const libName = basename(libFile);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let file: string | null = null;
    const p = decodeURIComponent(url.pathname);
    if (p === '/lib/' + libName) file = libFile;
    else if (p.startsWith('/model/resolve/main/')) {
      const rel = normalize(p.slice('/model/resolve/main/'.length));
      if (!rel.startsWith('..') && !rel.includes('\0')) file = join(mlcDir, rel);
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain', connection: 'close' }).end(`not found: ${p}`);
      return;
    }
    // No keep-alive: web-llm downloads shards on 4 parallel fetches, and when this thread is busy
    // (decoding shards, SwiftShader) undici could reuse a socket the server's 5 s keep-alive timer had
    // just closed, failing the load with "fetch failed (read ECONNRESET)". A connection per file costs
    // nothing on loopback.
    res.writeHead(200, {
      'content-length': statSync(file).size,
      'content-type': 'application/octet-stream',
      connection: 'close',
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', () => ok()));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('artifact server: no port');
  const base = `http://127.0.0.1:${addr.port}`;
  return {
    modelUrl: `${base}/model/`,
    libUrl: `${base}/lib/${libName}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
