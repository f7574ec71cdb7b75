// Checks docker-compose.yml, the Dockerfile, the NGINX configuration
// (deploy/nginx, with its includes resolved through the compose mounts)
// and the Prometheus scrape configuration (deploy/prometheus) against the
// code, so they fail here when the two drift apart. Nothing is
// started: there is no Docker here; nginx/nginx-routing.test.ts runs the
// same NGINX configuration for real.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPHS } from '@realms/gateway';
import { loadCatalog, type RealmConfig } from '@realms/platform';
import { portsFromEnv } from '../src/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

// ---------------------------------------------------------------- compose

interface ComposeService {
  readonly image?: string;
  readonly build?: unknown;
  readonly command?: string | string[];
  readonly environment?: Record<string, unknown> | string[];
  readonly volumes?: (
    string | { source?: string; target?: string; read_only?: boolean }
  )[];
  readonly ports?: (string | number)[];
  readonly depends_on?: string[] | Record<string, { condition?: string }>;
  readonly healthcheck?: { test?: string | string[] };
  readonly networks?:
    string[] | Record<string, { ipv4_address?: string } | null>;
}

interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly volumes?: Record<string, unknown>;
  readonly networks?: Record<
    string,
    { ipam?: { config?: { subnet?: string; ip_range?: string }[] } } | null
  >;
}

function words(command: string | string[] | undefined): string[] {
  if (command === undefined) return [];
  return typeof command === 'string' ? command.trim().split(/\s+/) : command;
}

function env(service: ComposeService): Record<string, string> {
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      raw.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [key, String(value ?? '')]),
  );
}

function dependsOn(
  service: ComposeService,
): Record<string, string | undefined> {
  const raw = service.depends_on ?? {};
  if (Array.isArray(raw))
    return Object.fromEntries(raw.map((name) => [name, undefined]));
  return Object.fromEntries(
    Object.entries(raw).map(([name, value]) => [name, value?.condition]),
  );
}

function networks(
  service: ComposeService,
): Record<string, { ipv4_address?: string }> {
  const raw = service.networks ?? {};
  if (Array.isArray(raw))
    return Object.fromEntries(raw.map((name) => [name, {}]));
  return Object.fromEntries(
    Object.entries(raw).map(([name, value]) => [name, value ?? {}]),
  );
}

function volumeStrings(service: ComposeService): string[] {
  return (service.volumes ?? []).map((v) =>
    typeof v === 'string'
      ? v
      : `${v.source ?? ''}:${v.target ?? ''}${v.read_only ? ':ro' : ''}`,
  );
}

/** The port a `node -e "fetch('http://127.0.0.1:PORT/health/ready')…"` checks. */
function healthcheckPort(service: ComposeService): string | undefined {
  const test = service.healthcheck?.test;
  const text = Array.isArray(test) ? test.join(' ') : (test ?? '');
  return /http:\/\/127\.0\.0\.1:(\d+)\/health\/ready/.exec(text)?.[1];
}

function ipv4(address: string): number {
  const parts = address.split('.').map(Number);
  expect(parts, `IPv4 address ${address}`).toHaveLength(4);
  for (const part of parts) {
    expect(Number.isInteger(part) && part >= 0 && part <= 255, address).toBe(
      true,
    );
  }
  return parts.reduce((n, part) => n * 256 + part, 0);
}

function inCidr(address: string, cidr: string): boolean {
  const [base = '', bits = ''] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipv4(base) / size) * size;
  const value = ipv4(address);
  return value >= start && value < start + size;
}

/** What the tests read of deploy/prometheus/prometheus.yml. */
interface PrometheusConfig {
  readonly rule_files?: string[];
  readonly scrape_configs?: {
    readonly job_name: string;
    readonly metrics_path?: string;
    readonly scheme?: string;
    readonly static_configs?: { readonly targets?: string[] }[];
  }[];
}

// ---------------------------------------------------------------- nginx

interface Directive {
  readonly name: string;
  readonly args: string[];
  readonly block?: Directive[];
}

/** A small nginx.conf parser: directives, quoted strings, blocks, comments. */
function parseNginx(text: string): Directive[] {
  const tokens: string[] = [];
  const token =
    /\s+|#[^\n]*|'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|([{};])|([^\s{};'"#]+)/gy;
  let match: RegExpExecArray | null;
  while (token.lastIndex < text.length && (match = token.exec(text))) {
    const value = match[1] ?? match[2] ?? match[3] ?? match[4];
    if (value !== undefined) tokens.push(match[3] ? `\0${value}` : value);
  }
  expect(token.lastIndex, 'nginx.conf tokenizes to the end').toBe(text.length);

  let i = 0;
  const block = (nested: boolean): Directive[] => {
    const directives: Directive[] = [];
    while (i < tokens.length) {
      const name = tokens[i++] ?? '';
      if (name === '\0}') {
        if (!nested) throw new Error('nginx.conf: unexpected "}"');
        return directives;
      }
      const args: string[] = [];
      for (;;) {
        const next = tokens[i++];
        if (next === undefined)
          throw new Error(`nginx.conf: "${name}" is not closed`);
        if (next === '\0;') {
          directives.push({ name, args });
          break;
        }
        if (next === '\0{') {
          directives.push({ name, args, block: block(true) });
          break;
        }
        if (next === '\0}') throw new Error(`nginx.conf: "${name}" lacks ";"`);
        args.push(next);
      }
    }
    if (nested) throw new Error('nginx.conf: missing "}"');
    return directives;
  };
  return block(false);
}

const find = (block: readonly Directive[] | undefined, name: string) =>
  (block ?? []).filter((d) => d.name === name);

/** Where nginx looks for relative paths: the main file's directory. */
const NGINX_PREFIX = '/etc/nginx/';

/** A bind mount of a compose service: host path (from root) and target. */
interface Mount {
  readonly source: string;
  readonly target: string;
}

/** The host file behind a container path, through the service's mounts. */
function hostPath(path: string, mounts: readonly Mount[]): string {
  const absolute = path.startsWith('/') ? path : NGINX_PREFIX + path;
  const mount = mounts.find(
    (m) => absolute === m.target || absolute.startsWith(`${m.target}/`),
  );
  if (!mount) throw new Error(`nginx: nothing is mounted at ${absolute}`);
  const source = mount.source.replace(/^\.\//, '');
  return `${root}${source}${absolute.slice(mount.target.length)}`;
}

/**
 * Parses the container's main nginx file and replaces every `include`
 * with the directives of the files it names (a `*` in the last part
 * matches as in nginx), read from the host through the mounts.
 */
async function loadNginx(
  path: string,
  mounts: readonly Mount[],
): Promise<Directive[]> {
  const expand = async (block: readonly Directive[]): Promise<Directive[]> => {
    const result: Directive[] = [];
    for (const directive of block) {
      if (directive.name !== 'include') {
        result.push(
          directive.block
            ? { ...directive, block: await expand(directive.block) }
            : directive,
        );
        continue;
      }
      const file = hostPath(directive.args[0] ?? '', mounts);
      const slash = file.lastIndexOf('/');
      const [dir, pattern] = [file.slice(0, slash), file.slice(slash + 1)];
      const matcher = new RegExp(
        `^${pattern.replaceAll('.', '\\.').replaceAll('*', '.*')}$`,
      );
      const names = (await readdir(dir)).filter((n) => matcher.test(n)).sort();
      expect(names.length, `include ${directive.args[0]}`).toBeGreaterThan(0);
      for (const name of names) {
        const text = await readFile(`${dir}/${name}`, 'utf8');
        result.push(...(await expand(parseNginx(text))));
      }
    }
    return result;
  };
  return expand(parseNginx(await readFile(hostPath(path, mounts), 'utf8')));
}

/** Seconds of an nginx time such as `60s`, `5m` or `1h`. */
function seconds(value: string | undefined): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value ?? '');
  if (!match) return NaN;
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? 's'];
  return Number(match[1]) * (unit ?? NaN);
}

/** The value of a directive at the innermost level that sets it. */
function effective(
  name: string,
  ...levels: (readonly Directive[] | undefined)[]
): string[] | undefined {
  let value: string[] | undefined;
  for (const level of levels) {
    const own = find(level, name)[0];
    if (own) value = own.args;
  }
  return value;
}

/** Effective proxy_set_header values: a level with any replaces all above it. */
function proxyHeaders(
  ...levels: (readonly Directive[] | undefined)[]
): Map<string, string> {
  let effective: Directive[] = [];
  for (const level of levels) {
    const own = find(level, 'proxy_set_header');
    if (own.length > 0) effective = own;
  }
  return new Map(
    effective.map((d) => [
      (d.args[0] ?? '').toLowerCase(),
      d.args.slice(1).join(' '),
    ]),
  );
}

// ---------------------------------------------------------------- tests

describe('docker-compose.yml, Dockerfile and nginx.conf match the code', () => {
  let compose: ComposeFile;
  let services: Record<string, ComposeService>;
  let scripts: Record<string, string>;
  let workspaces: string[];
  let realms: RealmConfig[];
  let nginx: Directive[];
  let dockerfile: string;

  const nodeServiceNames = () =>
    Object.keys(services).filter((name) => services[name]?.build !== undefined);
  const service = (name: string): ComposeService => {
    const found = services[name];
    if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
    return found;
  };

  beforeAll(async () => {
    // `merge: true`: docker compose resolves `<<: *anchor` merge keys.
    compose = parse(await readFile(`${root}docker-compose.yml`, 'utf8'), {
      merge: true,
    }) as ComposeFile;
    services = compose.services;
    const pkg = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as {
      scripts: Record<string, string>;
      workspaces: string[];
    };
    scripts = pkg.scripts;
    workspaces = [];
    for (const pattern of pkg.workspaces) {
      if (pattern.endsWith('/*')) {
        const dir = pattern.slice(0, -2);
        const entries = await readdir(`${root}${dir}`, { withFileTypes: true });
        for (const entry of entries) {
          if (entry.isDirectory()) workspaces.push(`${dir}/${entry.name}`);
        }
      } else {
        workspaces.push(pattern);
      }
    }
    realms = [...(await loadCatalog(`${root}schema/`)).realms.values()];
    const mounts = volumeStrings(service('nginx')).map((volume) => {
      const [source = '', target = ''] = volume.split(':');
      return { source, target };
    });
    nginx = await loadNginx(`${NGINX_PREFIX}nginx.conf`, mounts);
    dockerfile = await readFile(`${root}Dockerfile`, 'utf8');
  });

  it('runs exactly the gateway and one service per subgraph from the image', () => {
    expect(nodeServiceNames().sort()).toEqual(
      ['gateway', ...SUBGRAPHS.map((s) => s.name)].sort(),
    );
  });

  it('starts every Node service with an npm script that exists', () => {
    for (const name of nodeServiceNames()) {
      const [npm, run, script, ...rest] = words(service(name).command);
      expect([npm, run], `${name}: command`).toEqual(['npm', 'run']);
      expect(Object.keys(scripts), `${name}: npm script`).toContain(script);
      if (name === 'gateway') {
        expect(script).toBe('start:gateway');
        expect(rest).toEqual([]);
      } else {
        expect(script, name).toBe('start:subgraph');
        expect(rest, name).toEqual(['--', name]);
        expect(SUBGRAPHS.map((s) => s.name)).toContain(rest[1]);
      }
    }
  });

  it('gives each subgraph service its port, and checks readiness on it', () => {
    for (const { name, port } of SUBGRAPHS) {
      const e = env(service(name));
      const variable = `${name.toUpperCase()}_PORT`;
      // The variable is the one launcher/src/config.ts reads.
      expect(
        portsFromEnv({ [variable]: '65000' }).subgraphs[name],
        variable,
      ).toBe(65000);
      expect(e[variable], `${name}: ${variable}`).toBe(String(port));
      expect(portsFromEnv(e).subgraphs[name]).toBe(port);
      expect(healthcheckPort(service(name)), `${name}: healthcheck`).toBe(
        String(port),
      );
    }
  });

  it('points the gateway at every subgraph service and waits for them', () => {
    const gateway = service('gateway');
    const e = env(gateway);
    expect(e['PORT']).toBe(String(portsFromEnv({}).gateway));
    expect(healthcheckPort(gateway), 'gateway: healthcheck').toBe(e['PORT']);
    const deps = dependsOn(gateway);
    for (const { name, port } of SUBGRAPHS) {
      expect(e[`${name.toUpperCase()}_URL`], name).toBe(
        `http://${name}:${port}/graphql`,
      );
      expect(deps[name], `gateway depends_on ${name}`).toBe('service_healthy');
    }
  });

  it('runs every Node service in production, on all interfaces, with Redis and the secret', () => {
    for (const name of nodeServiceNames()) {
      const e = env(service(name));
      expect(e['NODE_ENV'], name).toBe('production');
      expect(e['HOST'], name).toBe('0.0.0.0');
      expect(e['REDIS_URL'], name).toBe('redis://redis:6379');
      expect(e['REALMS_INTERNAL_SECRET'], name).toMatch(
        /^\$\{REALMS_INTERNAL_SECRET:\?.+\}$/,
      );
      if (name !== 'gateway') {
        expect(dependsOn(service(name))['redis'], name).toBe('service_healthy');
      }
    }
  });

  it('never lets a Node service phone home', () => {
    for (const name of nodeServiceNames()) {
      const e = env(service(name));
      expect(e['APOLLO_TELEMETRY_DISABLED'], name).toBe('true');
      expect(e['TURBO_TELEMETRY_DISABLED'], name).toBe('1');
      expect(e['DO_NOT_TRACK'], name).toBe('1');
      expect(e, name).not.toHaveProperty('APOLLO_KEY');
      expect(e, name).not.toHaveProperty('APOLLO_GRAPH_REF');
    }
    for (const line of [
      'APOLLO_TELEMETRY_DISABLED=true',
      'TURBO_TELEMETRY_DISABLED=1',
      'DO_NOT_TRACK=1',
    ]) {
      expect(dockerfile, `Dockerfile ENV ${line}`).toContain(line);
    }
    expect(dockerfile).not.toMatch(/APOLLO_KEY/);
  });

  it('mounts the realm key sets read-only where the gateway looks for them', () => {
    const gateway = service('gateway');
    const dir = env(gateway)['REALMS_KEYS_DIR'];
    expect(dir).toBeTruthy();
    expect(volumeStrings(gateway)).toContain(`./var/keys:${dir}:ro`);
  });

  it('keeps Redis data in a declared named volume with append-only persistence', () => {
    const redis = service('redis');
    expect(redis.image).toMatch(/^redis:7/);
    expect(words(redis.command).join(' ')).toMatch(/--appendonly yes\b/);
    const data = volumeStrings(redis).find((v) => v.split(':')[1] === '/data');
    expect(data, 'redis /data volume').toBeDefined();
    const volume = data?.split(':')[0] ?? '';
    expect(volume).not.toMatch(/^[./~]/); // a named volume, not a bind mount
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
    expect(redis.healthcheck?.test).toBeDefined();
  });

  it('trusts the realm header from NGINX only, at its fixed address', () => {
    const gateway = service('gateway');
    const proxy = service('nginx');
    const nginxNetworks = Object.entries(networks(proxy)).filter(
      ([, settings]) => settings.ipv4_address,
    );
    expect(nginxNetworks, 'nginx has one fixed ipv4_address').toHaveLength(1);
    const [network = '', { ipv4_address: address = '' } = {}] =
      nginxNetworks[0] ?? [];
    expect(env(gateway)['TRUSTED_PROXIES']).toBe(address);
    expect(Object.keys(networks(gateway))).toContain(network);

    const ipam = compose.networks?.[network]?.ipam?.config?.[0];
    expect(ipam?.subnet, `network ${network} has a fixed subnet`).toBeDefined();
    expect(inCidr(address, ipam?.subnet ?? '')).toBe(true);
    if (ipam?.ip_range) {
      // Outside the dynamic range, so no other container can take it first.
      expect(inCidr(address, ipam.ip_range)).toBe(false);
    }
  });

  it('publishes only NGINX, with its config and certificates mounted read-only', () => {
    const proxy = service('nginx');
    expect(proxy.image).toMatch(/^nginx:1\.27/);
    expect(volumeStrings(proxy)).toEqual(
      expect.arrayContaining([
        './deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro',
        './deploy/nginx/edge:/etc/nginx/edge:ro',
        './var/certs:/etc/nginx/certs:ro',
      ]),
    );
    const ports = (proxy.ports ?? []).map(String);
    expect(ports).toContain('8080:80');
    // HTTP redirects name the host port HTTPS is published on.
    const https = ports.find((p) => p.endsWith(':443'))?.split(':')[0];
    expect(https, 'nginx publishes 443').toBeDefined();
    const httpBlock = find(nginx, 'http')[0]?.block;
    const httpsPort = find(httpBlock, 'map').find(
      (m) => m.args[1] === '$https_port',
    );
    expect(find(httpsPort?.block, 'default')[0]?.args).toEqual([https]);
    expect(dependsOn(proxy)['gateway']).toBe('service_healthy');
    for (const [name, other] of Object.entries(services)) {
      // Prometheus is published on the host's loopback only (below).
      if (name !== 'nginx' && name !== 'prometheus')
        expect(other.ports, `${name} publishes no port`).toBeUndefined();
    }
  });

  describe('Prometheus', () => {
    const prometheus = () => service('prometheus');
    const mounts = () =>
      volumeStrings(prometheus()).map((volume) => {
        const [source = '', target = ''] = volume.split(':');
        return { source, target };
      });
    /** The host file behind a path in the Prometheus container. */
    const hostFile = (path: string) => {
      const mount = mounts().find(
        (m) => path === m.target || path.startsWith(`${m.target}/`),
      );
      if (!mount) throw new Error(`prometheus: nothing is mounted at ${path}`);
      return `${root}${mount.source.replace(/^\.\//, '')}${path.slice(mount.target.length)}`;
    };
    const configPath = () => {
      const flag = words(prometheus().command).find((w) =>
        w.startsWith('--config.file='),
      );
      return flag?.slice('--config.file='.length) ?? '';
    };
    const loadConfig = async () =>
      parse(await readFile(hostFile(configPath()), 'utf8')) as PrometheusConfig;
    /** Every Node service and the port it serves /metrics on. */
    const nodeServicePorts = () =>
      Object.fromEntries(
        nodeServiceNames().map((name) => {
          const e = env(service(name));
          const port =
            name === 'gateway' ? e['PORT'] : e[`${name.toUpperCase()}_PORT`];
          return [name, port ?? ''];
        }),
      );

    it('runs a pinned image with deploy/prometheus mounted read-only, on loopback only', () => {
      const p = prometheus();
      expect(p.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
      expect(volumeStrings(p)).toContain(
        './deploy/prometheus:/etc/prometheus:ro',
      );
      expect(configPath()).toBe('/etc/prometheus/prometheus.yml');
      expect(hostFile(configPath())).toBe(
        `${root}deploy/prometheus/prometheus.yml`,
      );
      expect((p.ports ?? []).map(String)).toEqual(['127.0.0.1:9090:9090']);
      const deps = Object.keys(dependsOn(p));
      for (const name of nodeServiceNames()) expect(deps, name).toContain(name);
      expect(Object.keys(networks(p))).toEqual(
        Object.keys(networks(service('gateway'))),
      );
    });

    it('scrapes exactly the Node services, each on its own port at /metrics', async () => {
      const config = await loadConfig();
      const scraped: Record<string, string> = {};
      for (const job of config.scrape_configs ?? []) {
        expect(job.metrics_path ?? '/metrics', job.job_name).toBe('/metrics');
        expect(job.scheme ?? 'http', job.job_name).toBe('http');
        const targets = (job.static_configs ?? []).flatMap(
          (c) => c.targets ?? [],
        );
        expect(targets, job.job_name).toHaveLength(1);
        const [host = '', port = ''] = (targets[0] ?? '').split(':');
        // Each job is named after the compose service it scrapes.
        expect(host, job.job_name).toBe(job.job_name);
        scraped[host] = port;
      }
      expect(scraped).toEqual(nodeServicePorts());
      for (const name of Object.keys(scraped)) {
        expect(Object.keys(networks(service(name))), name).toEqual(
          Object.keys(networks(prometheus())),
        );
      }
    });

    it('loads rule files that exist in the mounted folder, the alert rules among them', async () => {
      const config = await loadConfig();
      const configDir = configPath().slice(0, configPath().lastIndexOf('/'));
      const loaded: string[] = [];
      for (const pattern of config.rule_files ?? []) {
        const file = hostFile(
          pattern.startsWith('/') ? pattern : `${configDir}/${pattern}`,
        );
        const slash = file.lastIndexOf('/');
        const [dir, name] = [file.slice(0, slash), file.slice(slash + 1)];
        const matcher = new RegExp(
          `^${name.replaceAll('.', '\\.').replaceAll('*', '[^/]*')}$`,
        );
        const names = (await readdir(dir)).filter((n) => matcher.test(n));
        expect(names.length, `rule_files ${pattern}`).toBeGreaterThan(0);
        loaded.push(...names.map((n) => `${dir}/${n}`));
      }
      expect(loaded).toContain(
        `${root}deploy/prometheus/rules/realms.rules.yml`,
      );
    });
  });

  it('copies every workspace manifest before npm ci in the Dockerfile', () => {
    const npmCi = dockerfile.search(/^RUN .*npm ci/m);
    expect(npmCi).toBeGreaterThan(0);
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    for (const workspace of workspaces) {
      const copy = new RegExp(`^COPY ${workspace}/package\\.json `, 'm').exec(
        dockerfile,
      );
      expect(
        copy,
        `Dockerfile copies ${workspace}/package.json`,
      ).not.toBeNull();
      expect(copy?.index ?? Infinity).toBeLessThan(npmCi);
    }
  });

  describe('the NGINX configuration', () => {
    const http = () => find(nginx, 'http')[0]?.block;
    const servers = () => find(http(), 'server');
    const listens = (server: Directive) => find(server.block, 'listen');
    const isHttps = (server: Directive) =>
      listens(server).some((d) => d.args.includes('ssl'));
    const named = (domain: string, https: boolean) =>
      servers().filter(
        (s) =>
          isHttps(s) === https &&
          find(s.block, 'server_name').some((d) => d.args.includes(domain)),
      );
    const realmDomains = () =>
      realms.flatMap((realm) =>
        realm.domains.map((domain) => ({ domain, realm: realm.id })),
      );
    // No admin realm exists yet: these reach the gateway with no realm.
    const adminDomains = ['admin.localhost', 'admin.realms.test'].map(
      (domain) => ({ domain, realm: '' }),
    );

    it('proxies every realm domain over HTTPS to the gateway, naming that realm', () => {
      const gatewayPort = env(service('gateway'))['PORT'];
      const upstreams = find(http(), 'upstream');
      for (const { domain, realm } of [...realmDomains(), ...adminDomains]) {
        const matching = named(domain, true);
        expect(matching, `one HTTPS server for ${domain}`).toHaveLength(1);
        const server = matching[0]?.block;
        expect(listens(matching[0] as Directive).map((d) => d.args)).toEqual([
          ['443', 'ssl'],
        ]);
        const locations = find(server, 'location');
        expect(locations.length, `${domain}: locations`).toBeGreaterThan(0);
        for (const location of locations) {
          const where = `${domain} ${location.args.join(' ')}`;
          const headers = proxyHeaders(http(), server, location.block);
          // An empty value: nginx sends no X-Client-ID at all.
          expect(headers.get('x-client-id'), where).toBe(realm);
          expect(headers.get('host'), where).toBe('$host');
          expect(headers.get('x-request-id'), where).toBe('$request_id');
          expect(headers.get('x-forwarded-for'), where).toBe('$remote_addr');
          expect(headers.get('connection'), where).toBe('$connection_upgrade');
          expect(headers.get('upgrade'), where).toBe('$http_upgrade');
          const [target = ''] =
            find(location.block, 'proxy_pass')[0]?.args ?? [];
          const upstreamName = /^http:\/\/([^/:]+)$/.exec(target)?.[1];
          const upstream = upstreams.find((u) => u.args[0] === upstreamName);
          expect(upstream, `${where}: proxy_pass ${target}`).toBeDefined();
          expect(find(upstream?.block, 'server')[0]?.args[0]).toBe(
            `gateway:${gatewayPort}`,
          );
        }
      }
    });

    it('names each domain’s certificate by that domain, under the mounted certs/', () => {
      for (const { domain } of [...realmDomains(), ...adminDomains]) {
        const server = named(domain, true)[0]?.block;
        expect(find(server, 'ssl_certificate')[0]?.args, domain).toEqual([
          `certs/${domain}.crt`,
        ]);
        expect(find(server, 'ssl_certificate_key')[0]?.args, domain).toEqual([
          `certs/${domain}.key`,
        ]);
      }
      expect(find(http(), 'ssl_protocols')[0]?.args).toEqual([
        'TLSv1.2',
        'TLSv1.3',
      ]);
    });

    it('redirects every realm and admin domain from HTTP to HTTPS with 301', () => {
      for (const { domain } of [...realmDomains(), ...adminDomains]) {
        const matching = named(domain, false);
        expect(matching, `one HTTP server for ${domain}`).toHaveLength(1);
        const server = matching[0]?.block;
        expect(find(server, 'return')[0]?.args, domain).toEqual([
          '301',
          'https://$host:$https_port$request_uri',
        ]);
        expect(find(server, 'location'), domain).toHaveLength(0);
        expect(find(server, 'proxy_pass'), domain).toHaveLength(0);
      }
    });

    it('serves no host that is not a realm or admin domain', () => {
      const domains = new Set(
        [...realmDomains(), ...adminDomains].map((d) => d.domain),
      );
      const names = servers()
        .flatMap((s) => find(s.block, 'server_name'))
        .flatMap((d) => d.args)
        .filter((name) => name !== '_');
      for (const name of names) expect(domains, name).toContain(name);
    });

    it('answers 421 for unknown hosts on HTTP and HTTPS, never a default realm', () => {
      const defaults = servers().filter((s) =>
        listens(s).some((d) => d.args.includes('default_server')),
      );
      expect(defaults).toHaveLength(1);
      const [fallback] = defaults as [Directive];
      expect(listens(fallback).map((d) => d.args)).toEqual([
        ['80', 'default_server'],
        ['443', 'ssl', 'default_server'],
      ]);
      const block = fallback.block;
      expect(find(block, 'return')[0]?.args).toEqual(['421']);
      expect(find(block, 'proxy_pass')).toHaveLength(0);
      expect(find(block, 'location')).toHaveLength(0);
      expect(find(block, 'server_name').flatMap((d) => d.args)).toEqual(['_']);
      // A handshake must succeed for the 421 to be sent at all.
      expect(find(block, 'ssl_reject_handshake')).toHaveLength(0);
    });

    it('never logs the Authorization header or query strings, and limits request bodies', () => {
      for (const format of find(http(), 'log_format')) {
        expect(format.args.join('')).not.toMatch(
          /\$http_authorization|\$http_cookie|\$request_uri|\$args|\$query_string|\$arg_|\$request\b/i,
        );
      }
      expect(find(http(), 'client_max_body_size')[0]?.args).toEqual(['1m']);
    });

    it('limits the request rate per client address on every proxied domain, with 429', () => {
      const zones = find(http(), 'limit_req_zone');
      expect(zones).toHaveLength(1);
      const [key, zoneArg = '', rate = ''] = zones[0]?.args ?? [];
      expect(key).toBe('$binary_remote_addr');
      const zone = /^zone=([^:]+):/.exec(zoneArg)?.[1];
      expect(rate).toMatch(/^rate=\d+r\/s$/);
      expect(find(http(), 'limit_req_status')[0]?.args).toEqual(['429']);
      for (const { domain } of [...realmDomains(), ...adminDomains]) {
        const server = named(domain, true)[0]?.block;
        for (const location of find(server, 'location')) {
          const limit = effective('limit_req', http(), server, location.block);
          expect(limit?.[0], domain).toBe(`zone=${zone}`);
          expect(
            limit?.find((a) => a.startsWith('burst=')),
            domain,
          ).toMatch(/^burst=\d+$/);
        }
      }
    });

    it('keeps idle WebSockets for an hour and plain requests for a minute', () => {
      for (const { domain } of [...realmDomains(), ...adminDomains]) {
        const server = named(domain, true)[0]?.block;
        const timeouts = find(server, 'location').map((location) =>
          seconds(
            effective(
              'proxy_read_timeout',
              http(),
              server,
              location.block,
            )?.[0],
          ),
        );
        expect(Math.min(...timeouts), domain).toBe(60);
        expect(Math.max(...timeouts), domain).toBeGreaterThanOrEqual(3600);
      }
    });
  });
});
