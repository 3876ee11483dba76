import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { validateConfig } from '../../src/config/load.js';
import { startServer } from '../helpers/server.js';
import type { TapTest } from '../helpers/tap.js';

// No Docker engine or cluster here: what can be checked is that every manifest parses, names
// routes and ports the server really serves, and that the systemd ExecStart lines start it.

const ROOT = new URL('../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const yamlOf = (path: string) => parse(read(path)) as any;

t.test('Kubernetes: the config validates, probes and scrape paths are served on the container port, grace outlasts the drain', async (t) => {
  const kustomization = yamlOf('deploy/k8s/kustomization.yaml');
  for (const file of kustomization.resources) t.ok(parseAllDocuments(read(`deploy/k8s/${file}`)).every((d) => d.errors.length === 0), `${file} parses`);
  const config = validateConfig(yamlOf(`deploy/k8s/${kustomization.configMapGenerator[0].files[0]}`));
  const deployment = yamlOf('deploy/k8s/deployment.yaml');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  t.equal(container.ports[0].containerPort, config.port, 'the container port is the config file\'s port');
  t.ok(pod.spec.terminationGracePeriodSeconds > config.drainTimeoutMs / 1000, 'the grace period outlasts drainTimeoutMs');
  t.same(container.args, ['--config', container.volumeMounts[0].mountPath + '/config.yaml'], 'the config file is where the ConfigMap is mounted');
  t.equal(yamlOf('deploy/k8s/service.yaml').spec.ports[0].targetPort, container.ports[0].name);
  const monitor = yamlOf('deploy/k8s/podmonitor.yaml');

  const s = await startServer();
  t.teardown(() => s.close());
  const paths = [container.livenessProbe.httpGet.path, container.readinessProbe.httpGet.path, pod.metadata.annotations['prometheus.io/path'], monitor.spec.podMetricsEndpoints[0].path];
  for (const path of paths) t.equal((await fetch(`${s.url}${path}`)).status, 200, `${path} is served`);
  t.equal(Number(pod.metadata.annotations['prometheus.io/port']), config.port);
});

t.test('compose: Prometheus scrapes the simulator\'s port and path', async (t) => {
  const compose = yamlOf('compose.yaml');
  t.same(compose.services['llm-simulator'].ports, ['8080:8080']);
  const prometheus = yamlOf('deploy/prometheus/prometheus.yml');
  t.equal(prometheus.scrape_configs[0].metrics_path, '/metrics');
  t.same(prometheus.scrape_configs[0].static_configs[0].targets, ['llm-simulator:8080']);
  t.ok(compose.services.prometheus.volumes[0].startsWith('./deploy/prometheus/prometheus.yml:'), 'compose mounts that file');
});

t.test('Grafana: every metric the dashboard queries is in /metrics; compose provisions it and its data source', async (t) => {
  const dashboard = JSON.parse(read('deploy/grafana/llm-simulator.json'));
  const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((target) => target.expr));
  const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:llm_|http_|vllm:)[a-z0-9_:]+/g)].map((m) => m[0])));
  t.ok(names.size >= 12, `${names.size} metrics queried by ${dashboard.panels.length} panels`);
  const s = await startServer();
  t.teardown(() => s.close());
  await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }) }).then((r) => r.text());
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  const typeOf = (name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(metrics)?.[1];
  for (const name of names) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    t.ok(base !== name ? typeOf(base) === 'histogram' : typeOf(name) !== undefined, `${name} is served`);
  }
  const uids = new Set(dashboard.panels.flatMap((p: { datasource: { uid: string } }) => [p.datasource.uid]));
  const datasource = yamlOf('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0];
  t.same([...uids], [datasource.uid], 'every panel uses the provisioned data source');
  t.equal(datasource.url, 'http://prometheus:9090');
  const grafana = yamlOf('compose.yaml').services.grafana;
  const provider = yamlOf('deploy/grafana/provisioning/dashboards/llm-simulator.yml').providers[0];
  t.ok(grafana.volumes.includes(`./deploy/grafana/llm-simulator.json:${provider.options.path}/llm-simulator.json:ro`), 'compose mounts the dashboard where its provider looks');
  t.ok(grafana.volumes.includes('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro'));
});

t.test('.dockerignore keeps node_modules and the tests out of the build context', async (t) => {
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', 'test', 'dist', '.git']) t.ok(ignored.includes(entry), entry);
  t.match(read('Dockerfile'), /^USER node$/m, 'the image runs as non-root');
  t.match(read('Dockerfile'), /^HEALTHCHECK /m);
});

/** A port nobody listens on now. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/**
 * Starts a unit's ExecStart as systemd would, with this checkout for /opt/llm-simulator, this
 * node for /usr/bin/node, a test config for /etc/llm-simulator/config.yaml and `port` for the
 * unit's port (`%i`, or the main unit's fixed 8080); resolves with the port it listens on.
 */
async function execStart(t: TapTest, unit: string, port: number): Promise<number> {
  const line = read(`deploy/systemd/${unit}`).split('\n').find((l) => l.startsWith('ExecStart='))!;
  const dir = mkdtempSync(join(tmpdir(), 'llmsim-systemd-'));
  writeFileSync(join(dir, 'config.yaml'), 'host: 127.0.0.1\nwarmUp: false\nworkers: 1\n');
  const argv = line
    .slice('ExecStart='.length)
    .replaceAll('%i', String(port))
    .replace('--port 8080', `--port ${port}`)
    .split(' ')
    .map((a) => a.replace('/usr/bin/node', process.execPath).replace('/opt/llm-simulator/', ROOT).replace('/etc/llm-simulator/config.yaml', join(dir, 'config.yaml')));
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void proc.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = out.match(/"port":(\d+)[^\n]*llm-simulator listening/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`${unit} ExecStart exited ${code}`)));
    setTimeout(() => reject(new Error(`${unit} ExecStart did not listen within 30 s`)), 30_000).unref();
  });
}

t.test("systemd: each unit's ExecStart starts the server, ExecReload sends SIGHUP", async (t) => {
  for (const unit of ['llm-simulator.service', 'llm-simulator@.service']) {
    t.match(read(`deploy/systemd/${unit}`), /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, `${unit} reloads with SIGHUP`);
    const port = await freePort();
    t.equal(await execStart(t, unit, port), port, `${unit} listens`);
    t.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200, 'and serves');
  }
});
