// `npm run demo:browser`: bundles the demo page (demo/browser/) with the
// package and tfjs for the browser and serves it with the bundled models on
// http://localhost:PORT/ (WebGPU needs a secure context; localhost is one).
//   node scripts/demo-browser.mjs [--port 8080]
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.karma-tmp', 'demo-browser');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
};

/** Bundles demo/browser/main.ts (the package from source, tfjs included) into outDir/main.js. */
export async function bundlePage() {
  mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['demo/browser/main.ts'],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    mainFields: ['module', 'main'],
    define: { global: 'globalThis' },
    external: ['node:*'],
    keepNames: true,
    sourcemap: true,
    logLevel: 'warning',
  });
}

/** Serves the page, its bundle and models/; POST /report hands the body to `onReport`. */
export function startServer({ port = 8080, onReport } = {}) {
  const routes = [
    ['/models/', join(root, 'models')],
    ['/', outDir],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    if (req.method === 'POST' && path === '/report') {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        res.writeHead(204).end();
        onReport?.(body);
      });
      return;
    }
    let file;
    if (path === '/' || path === '/index.html') file = join(root, 'demo/browser/index.html');
    else {
      const [prefix, dir] = routes.find(([p]) => path.startsWith(p));
      file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir + sep)) file = undefined; // no ../ out of the served folders
    }
    if (file == null || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolvePort({ server, port: server.address().port }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--port');
  const port = at >= 0 ? Number(process.argv[at + 1]) : 8080;
  await bundlePage();
  const { port: bound } = await startServer({ port });
  console.log(`demo: http://localhost:${bound}/ (Chrome/Edge 113+ with WebGPU; Ctrl-C stops the server)`);
  console.log(`demo: e.g. http://localhost:${bound}/?model=mobilenet_v2_mid&plan=auto&runs=30&autorun=1`);
}
