import { SeededRandom } from '@defter/example-common';
import type { LogLevel } from './log-line.js';

/** A line as the log shipper sends it to `logs-raw`: keyed by service, stamped when shipped. */
export interface ShippedLine {
  readonly service: string;
  readonly text: string;
  /** When the shipper sent it (the `logs-raw` record timestamp): after the event, in 5 s batches. */
  readonly shippedAtMs: number;
}

export interface SampleLogsOptions {
  readonly seed: number;
  readonly startMs: number;
  readonly durationMs: number;
  /** Mean gap between two lines of one service. */
  readonly lineIntervalMsMean: number;
  /** While the payment provider times out, billing and api log mostly errors. */
  readonly incident: { readonly fromMs: number; readonly toMs: number };
}

export const DEFAULT_SAMPLE_LOGS: SampleLogsOptions = {
  seed: 11,
  startMs: Date.UTC(2026, 10, 23, 10, 0, 0),
  durationMs: 30 * 60_000,
  lineIntervalMsMean: 30_000,
  incident: { fromMs: Date.UTC(2026, 10, 23, 10, 12, 0), toMs: Date.UTC(2026, 10, 23, 10, 18, 0) },
};

export const SERVICES = ['api', 'billing', 'auth'] as const;
type Service = (typeof SERVICES)[number];

const SHIPPING_INTERVAL_MS = 5_000;

/** Lines no parser understands, one per service, at fixed times: a crash dump, a torn write, a level the parser does not know. */
const UNPARSEABLE: ReadonlyArray<{ readonly service: Service; readonly atMs: number; readonly text: string }> = [
  { service: 'api', atMs: Date.UTC(2026, 10, 23, 10, 14, 30, 500), text: "TypeError: Cannot read properties of undefined (reading 'status')" },
  { service: 'billing', atMs: Date.UTC(2026, 10, 23, 10, 16, 2), text: '{"ts":"2026-11-23T10:16:02.000Z","level":"error","service":"billing","msg":"charge fail' },
  { service: 'auth', atMs: Date.UTC(2026, 10, 23, 10, 21, 7, 400), text: '2026-11-23T10:21:07.400Z NOTICE auth signing key rotation scheduled' },
];

/**
 * Half an hour of three services' logs, with an incident in the middle: api and auth write text
 * lines, billing JSON lines; three lines are unparseable. Deterministic for a given seed; returned
 * in shipping order (each service's lines in event-time order).
 */
export function sampleLogs(options: SampleLogsOptions = DEFAULT_SAMPLE_LOGS): ShippedLine[] {
  const random = new SeededRandom(options.seed);
  const events: Array<{ service: Service; atMs: number; text: string }> = [];
  for (const service of SERVICES) {
    let atMs = options.startMs;
    for (;;) {
      atMs += 1 + random.nextInt(2 * options.lineIntervalMsMean);
      if (atMs >= options.startMs + options.durationMs) break;
      const inIncident = service !== 'auth' && atMs >= options.incident.fromMs && atMs < options.incident.toMs;
      const level = pickLevel(random, inIncident);
      events.push({ service, atMs, text: formatLine(service, atMs, level, random) });
    }
  }
  events.push(...UNPARSEABLE);
  return events
    .map((event) => ({ ...event, shippedAtMs: (Math.floor(event.atMs / SHIPPING_INTERVAL_MS) + 1) * SHIPPING_INTERVAL_MS }))
    .sort((a, b) => a.shippedAtMs - b.shippedAtMs || a.atMs - b.atMs)
    .map(({ service, text, shippedAtMs }) => ({ service, text, shippedAtMs }));
}

function pickLevel(random: SeededRandom, inIncident: boolean): LogLevel {
  const draw = random.next();
  if (inIncident) return draw < 0.5 ? 'ERROR' : draw < 0.75 ? 'WARN' : draw < 0.95 ? 'INFO' : 'DEBUG';
  return draw < 0.04 ? 'ERROR' : draw < 0.14 ? 'WARN' : draw < 0.7 ? 'INFO' : 'DEBUG';
}

function formatLine(service: Service, atMs: number, level: LogLevel, random: SeededRandom): string {
  const at = new Date(atMs).toISOString();
  const id = 1000 + random.nextInt(9000);
  if (service === 'billing') {
    const lines: Record<LogLevel, Record<string, unknown>> = {
      DEBUG: { msg: 'rate table loaded', currencies: 5 },
      INFO: { msg: 'charge captured', orderId: `o-${id}`, amountCents: 500 + random.nextInt(20_000) },
      WARN: { msg: 'retrying charge', orderId: `o-${id}`, attempt: 2 },
      ERROR: { msg: 'payment provider timeout', orderId: `o-${id}`, provider: 'acme-pay', timeoutMs: 5000 },
    };
    return JSON.stringify({ ts: at, level: level.toLowerCase(), service, ...lines[level] });
  }
  const messages: Record<Exclude<Service, 'billing'>, Record<LogLevel, string>> = {
    api: {
      DEBUG: `cache hit key=order:o-${id}`,
      INFO: `GET /orders/o-${id} 200 ${20 + random.nextInt(80)}ms`,
      WARN: `slow response GET /orders/o-${id} ${1500 + random.nextInt(3000)}ms`,
      ERROR: `request failed id=r-${id} status=502 upstream=billing`,
    },
    auth: {
      DEBUG: `token refreshed user=u${id}`,
      INFO: `login ok user=u${id}`,
      WARN: `login failed user=u${id} attempts=3`,
      ERROR: `token store unreachable user=u${id}`,
    },
  };
  return `${at} ${level} ${service} ${messages[service][level]}`;
}
