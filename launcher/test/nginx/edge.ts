import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  access,
  constants,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, repoRoot } from '../support/processes.js';

/**
 * A real nginx running the edge of deploy/nginx in front of a test
 * gateway, on free 127.0.0.1 ports, with certificates from
 * scripts/dev-certs.sh. The files are the repository's own; only the
 * values that belong to a machine are rewritten (see {@link mainRewrites}
 * and {@link edgeRewrites}).
 */
export interface Edge {
  readonly httpPort: number;
  readonly httpsPort: number;
  /** The development CA that signed every certificate (PEM). */
  readonly ca: string;
  /** Stops nginx (TERM, then KILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

const NGINX_CONF = join(repoRoot, 'deploy/nginx/nginx.conf');
const EDGE_DIR = join(repoRoot, 'deploy/nginx/edge');
const DEV_CERTS = join(repoRoot, 'scripts/dev-certs.sh');

/** Where nginx lives when it is not on PATH (Debian: /usr/sbin). */
const NGINX_ELSEWHERE = [
  '/usr/sbin/nginx',
  '/usr/local/sbin/nginx',
  '/opt/homebrew/bin/nginx',
];

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];

/** The nginx binary, or an error saying how to get one. Never a skip. */
export async function findNginx(): Promise<string> {
  const onPath = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'nginx'));
  for (const candidate of [...onPath, ...NGINX_ELSEWHERE]) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next place
    }
  }
  throw new Error(
    'nginx is not installed (not on PATH, nor in /usr/sbin). The NGINX ' +
      'routing tests run a real nginx and do not skip without it: .ci/run ' +
      'installs it (apt-get install -y nginx).',
  );
}

interface Rewrite {
  /** What the value is, for the message when the file no longer has it. */
  readonly what: string;
  readonly pattern: RegExp;
  readonly replacement: string;
}

interface Machine {
  readonly dir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly gatewayPort: number;
}

/**
 * Everything the test changes in deploy/nginx/nginx.conf: process
 * settings, file locations and addresses. Each must match, so the test
 * fails when the file drifts instead of running something else.
 */
function mainRewrites(m: Machine): Rewrite[] {
  // As root, workers would switch to the container's `nginx` user, which
  // this machine need not have; they run as the test does instead.
  const asRoot = process.getuid?.() === 0;
  return [
    {
      what: 'the user workers run as',
      pattern: /^user nginx;$/m,
      replacement: asRoot ? 'user root;' : '',
    },
    {
      what: 'the pid file',
      pattern: /\/var\/run\/nginx\.pid/,
      replacement: join(m.dir, 'nginx.pid'),
    },
    {
      what: 'the log directory',
      pattern: /\/var\/log\/nginx\//g,
      replacement: `${join(m.dir, 'logs')}/`,
    },
    {
      what: 'the temp directories (added at the top of http)',
      pattern: /^http \{$/m,
      replacement: [
        'http {',
        ...TEMP_PATHS.map(
          (name) => `  ${name}_temp_path ${join(m.dir, 'temp', name)};`,
        ),
      ].join('\n'),
    },
    {
      what: 'the gateway address',
      pattern: /server gateway:4000;/,
      replacement: `server 127.0.0.1:${m.gatewayPort};`,
    },
    {
      what: 'the HTTPS port redirects name',
      pattern: /default 8443;/,
      replacement: `default ${m.httpsPort};`,
    },
  ];
}

/** The listen ports of edge/: 80 and 443 become the test's loopback ports. */
function edgeRewrites(m: Machine): Rewrite[] {
  return [
    {
      what: 'listen 80',
      pattern: /(?<=^\s*listen\s+)80\b/gm,
      replacement: `127.0.0.1:${m.httpPort}`,
    },
    {
      what: 'listen 443',
      pattern: /(?<=^\s*listen\s+)443\b/gm,
      replacement: `127.0.0.1:${m.httpsPort}`,
    },
  ];
}

function rewrite(
  text: string,
  file: string,
  rewrites: readonly Rewrite[],
  required: boolean,
): string {
  let result = text;
  for (const { what, pattern, replacement } of rewrites) {
    const found = new RegExp(pattern.source, pattern.flags).test(result);
    if (required && !found) {
      throw new Error(`${file} no longer has ${what} (${pattern}).`);
    }
    result = result.replace(pattern, replacement);
  }
  return result;
}

/** Copies edge/ with its listen ports rewritten; every listen must be ours. */
async function copyEdge(target: string, m: Machine): Promise<void> {
  await cp(EDGE_DIR, target, { recursive: true });
  const files = (await readdir(target, { recursive: true }))
    .map(String)
    .filter((name) => name.endsWith('.conf'));
  let listens = 0;
  for (const name of files) {
    const path = join(target, name);
    const text = rewrite(
      await readFile(path, 'utf8'),
      name,
      edgeRewrites(m),
      false,
    );
    for (const [, address = ''] of text.matchAll(/^\s*listen\s+([^\s;]+)/gm)) {
      listens++;
      const ours = [m.httpPort, m.httpsPort].map((p) => `127.0.0.1:${p}`);
      if (!ours.includes(address)) {
        throw new Error(
          `deploy/nginx/edge/${name}: listen ${address} is neither 80 nor 443; ` +
            'the NGINX test only knows how to move those.',
        );
      }
    }
    await writeFile(path, text);
  }
  if (listens === 0) throw new Error('deploy/nginx/edge has no listen at all.');
}

/** Polls until something accepts connections on 127.0.0.1:port. */
async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Ends nginx's process group (master and workers) by the master's pid. */
async function stopNginx(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (!pid || exited(child)) return;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => resolve()),
  );
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name);
    } catch {
      // the group is gone already
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

/**
 * Starts nginx with the repository's configuration in front of the
 * gateway at `gatewayUrl`. On any failure it cleans up after itself and
 * throws with nginx's own words.
 */
export async function startEdge(options: {
  nginx: string;
  gatewayUrl: string;
}): Promise<Edge> {
  const dir = await mkdtemp(join(tmpdir(), 'realms-nginx-'));
  let child: ChildProcess | undefined;
  const errorLog = () =>
    readFile(join(dir, 'logs', 'error.log'), 'utf8').catch(() => '');
  const stop = async () => {
    try {
      if (child) await stopNginx(child);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  try {
    const [httpPort, httpsPort] = await twoFreePorts();
    const m: Machine = {
      dir,
      httpPort,
      httpsPort,
      gatewayPort: Number(new URL(options.gatewayUrl).port),
    };

    // The layout of /etc/nginx in the container: nginx.conf, edge/, certs/.
    const conf = join(dir, 'conf');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await mkdir(join(dir, 'temp'), { recursive: true });
    await copyEdge(join(conf, 'edge'), m);
    await promisify(execFile)('bash', [DEV_CERTS, join(conf, 'certs')]);
    const main = rewrite(
      await readFile(NGINX_CONF, 'utf8'),
      'deploy/nginx/nginx.conf',
      mainRewrites(m),
      true,
    );
    await writeFile(join(conf, 'nginx.conf'), main);

    let output = '';
    child = spawn(
      options.nginx,
      [
        '-p',
        dir,
        '-e',
        join(dir, 'logs', 'error.log'),
        '-c',
        join(conf, 'nginx.conf'),
        '-g',
        'daemon off;',
      ],
      // Its own process group, so stopping it reaches the workers too.
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited(child)) {
        throw new Error(`nginx exited: ${output}\n${await errorLog()}`);
      }
      if ((await accepts(httpPort)) && (await accepts(httpsPort))) break;
      if (Date.now() > deadline) {
        throw new Error(
          `nginx did not listen within ${START_TIMEOUT_MS} ms: ` +
            `${output}\n${await errorLog()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    return {
      httpPort,
      httpsPort,
      ca: await readFile(join(conf, 'certs', 'ca.crt'), 'utf8'),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function twoFreePorts(): Promise<[number, number]> {
  for (;;) {
    const [a, b] = [await freePort(), await freePort()];
    if (a !== b) return [a, b];
  }
}

/** A response as the tests read it. */
export interface EdgeResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface EdgeRequest {
  readonly port: number;
  /** The Host header (without port, one is added). */
  readonly host: string;
  /** Over TLS, with this CA and SNI name (default: `host`). */
  readonly tls?: {
    readonly ca: string;
    readonly servername?: string;
    /** false: check the chain but not the name (unknown hosts). */
    readonly checkName?: boolean;
  };
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** The client's own address, e.g. 127.0.0.2 (all of 127/8 is loopback). */
  readonly localAddress?: string;
  /** Connections to reuse (TLS only); by default one of its own. */
  readonly agent?: Agent;
}

/**
 * One request to 127.0.0.1, on its own connection unless given an agent, with node:http(s)
 * rather than fetch(), which neither sends a Host header of our choosing
 * nor binds a local address.
 */
export function edgeRequest(options: EdgeRequest): Promise<EdgeResponse> {
  const request = options.tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: options.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/graphql',
        headers: {
          host: `${options.host}:${options.port}`,
          ...options.headers,
        },
        agent: options.agent ?? false,
        localAddress: options.localAddress,
        ...(options.tls && {
          ca: options.tls.ca,
          servername: options.tls.servername ?? options.host,
          ...(options.tls.checkName === false && {
            checkServerIdentity: () => undefined,
          }),
        }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    // After an early answer (413) the rest of the upload may fail; the
    // answer has been read by then and the promise is settled.
    req.on('error', reject);
    req.end(options.body);
  });
}
