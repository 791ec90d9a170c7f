// Sends traces to tempo-server with real Jaeger and Zipkin clients, and prints what it sent as
// JSON on stdout. Usage:
//   node send_traces.js JAEGER_COLLECTOR_URL AGENT_HOST AGENT_PORT ZIPKIN_URL
// JAEGER_COLLECTOR_URL is http://host:port/api/traces (Thrift over HTTP); AGENT_HOST and
// AGENT_PORT the agent's binary-protocol UDP port (jaeger-client for Node sends Thrift's binary
// protocol over UDP, to 6832 by default); ZIPKIN_URL is http://host:port.
'use strict';

const { initTracer } = require('jaeger-client');
const opentracing = require('opentracing');
const zipkin = require('zipkin');
const { HttpLogger } = require('zipkin-transport-http');
const fetch = require('node-fetch');

const [collectorEndpoint, agentHost, agentPort, zipkinUrl] = process.argv.slice(2);

// The clients report send failures only through their logger: any error fails the script.
let failed = false;
const quiet = {
  info() {},
  error(msg) {
    failed = true;
    console.error(msg);
  },
};

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// One trace: a server root with typed tags and a log, a client child with an error and a
// log, and a span that only follows from the root.
async function jaegerTrace(serviceName, reporter, traceId128bit) {
  const tracer = initTracer(
    {
      serviceName,
      sampler: { type: 'const', param: 1 },
      reporter: Object.assign({ flushIntervalMs: 100 }, reporter),
    },
    { logger: quiet, tags: { 'deploy.zone': 'zone-1', 'build.number': 42 }, traceId128bit },
  );
  const root = tracer.startSpan('GET /checkout', {
    tags: {
      'span.kind': 'server',
      'http.status_code': 200,
      'checkout.ratio': 0.5,
      'checkout.cached': false,
      customer: 'c-42',
    },
  });
  root.log({ event: 'cart loaded', items: 3 });
  await sleep(5);
  const child = tracer.startSpan('SELECT cart', {
    childOf: root,
    tags: { 'span.kind': 'client', 'db.system': 'postgresql' },
  });
  child.setTag('error', true);
  child.log({ event: 'error', message: 'timeout after 5ms' });
  await sleep(5);
  child.finish();
  const follower = tracer.startSpan('send receipt', {
    references: [opentracing.followsFrom(root.context())],
    tags: { 'span.kind': 'producer' },
  });
  follower.finish();
  root.finish();
  await new Promise((resolve) => tracer.close(resolve));
  const hex = (ctx) => ctx.traceId.toString('hex');
  return {
    service: serviceName,
    trace_id: hex(root.context()),
    root: root.context().spanId.toString('hex'),
    child: child.context().spanId.toString('hex'),
    follower: follower.context().spanId.toString('hex'),
  };
}

async function zipkinTrace() {
  const logger = new HttpLogger({
    endpoint: `${zipkinUrl}/api/v2/spans`,
    jsonEncoder: zipkin.jsonEncoder.JSON_V2,
    fetchImplementation: fetch,
    httpInterval: 0,
    log: quiet,
  });
  const recorder = new zipkin.BatchRecorder({ logger });
  const tracer = new zipkin.Tracer({
    ctxImpl: new zipkin.ExplicitContext(),
    recorder,
    localServiceName: 'zipkin-frontend',
  });
  const { Annotation } = zipkin;
  const rootId = tracer.createRootId();
  let childId;
  tracer.letId(rootId, () => {
    tracer.recordServiceName('zipkin-frontend');
    tracer.recordRpc('GET /orders');
    tracer.recordAnnotation(new Annotation.ServerRecv());
    tracer.recordAnnotation(
      new Annotation.LocalAddr({ host: new zipkin.InetAddress('127.0.0.1'), port: 8080 }),
    );
    tracer.recordBinary('http.path', '/orders');
    tracer.recordMessage('orders fetched');
    childId = tracer.createChildId();
  });
  tracer.letId(childId, () => {
    tracer.recordServiceName('zipkin-frontend');
    tracer.recordRpc('SELECT orders');
    tracer.recordAnnotation(new Annotation.ClientSend());
    tracer.recordAnnotation(
      new Annotation.ServerAddr({
        serviceName: 'postgres',
        host: new zipkin.InetAddress('10.1.2.3'),
        port: 5432,
      }),
    );
    tracer.recordBinary('error', 'connection reset');
    tracer.recordAnnotation(new Annotation.ClientRecv());
  });
  tracer.letId(rootId, () => {
    tracer.recordAnnotation(new Annotation.ServerSend());
  });
  const sent = new Promise((resolve, reject) => {
    logger.on('success', resolve);
    logger.on('error', reject);
  });
  logger.processQueue(fetch);
  await sent;
  return {
    service: 'zipkin-frontend',
    trace_id: rootId.traceId,
    root: rootId.spanId,
    child: childId.spanId,
  };
}

async function main() {
  const out = {};
  out.jaeger_http = await jaegerTrace('jaeger-http-svc', { collectorEndpoint }, false);
  out.jaeger_udp = await jaegerTrace(
    'jaeger-udp-svc',
    { agentHost, agentPort: Number(agentPort) },
    true,
  );
  out.zipkin = await zipkinTrace();
  if (failed) {
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
