// Turns `telemetry/events` batches into ExecutionRecords.
//
// Events used (others are counted as ignored):
//   ["pipeline","execution","stop"]      -> one ExecutionRecord
//   ["pipeline","execution","exception"] -> one ExecutionRecord, status "exception" (2.0)
//   ["pipeline","step","stop"]           -> a step summary, held until its execution's stop
//
// Production only: an execution whose metadata has a non-null candidate_id or example_id is an
// optimizer trial (pipeline/execute on behalf of a run) and is not stored (counted as
// `optimizerTrials`): it would skew the success rate and feed candidates' outputs back as
// "examples".
//
// Fields read (first present wins; the Elixir client sends the *_name / run_id spellings):
//   pipeline:     metadata.pipeline, metadata.pipeline_name, metadata.pipeline_id (string;
//                 an execution event without one is invalid)
//   execution id: metadata.execution_id, metadata.run_id (string or number)
//   status:       see quality_score.ts (metadata.result.status, metadata.status, success flags)
//   success:      status === "success" ("ok" is normalised to "success")
//   duration_ms:  measurements.duration_ms, metadata.duration_ms (ms; measurements.duration is
//                 in native time units and is NOT read)
//   input:        metadata.input, metadata.inputs
//   output:       metadata.result, metadata.output
//   quality:      qualityScore(status, findings) (see quality_score.ts for where findings are read)
//   steps:        metadata.result.steps ({NAME: {success, durationMs}}, the pipeline/execute wire
//                 result) when present; else the step events with the same execution id
//   step event:   name metadata.step | step_name | name; success measurements.success |
//                 metadata.success | metadata.status === "success"; duration as above
//
// Step summaries wait in a bounded map (by execution id, oldest evicted and counted), so a
// client that sends steps without a stop cannot grow memory.
import { ElexirionError } from '../errors.js';
import { TelemetryEventSchema, TelemetryEventsParamsSchema, type TelemetryEvent } from './telemetry_schemas.js';
import type { ExecutionRecord, StepSummary } from '../store/execution_record.js';
import { qualityScore, readFindings, readStatus } from './quality_score.js';

export interface RecordSink {
  append(record: ExecutionRecord): boolean;
}

export interface TelemetryIngesterOptions {
  /** executions with step events but no stop yet. 10_000 */
  maxPendingExecutions?: number;
  /** step summaries kept per execution. 200 */
  maxStepsPerExecution?: number;
}

export interface IngestResult {
  events: number;
  executions: number;
  accepted: number;
  shed: number;
  invalid: number;
}

export interface IngesterStats {
  batches: number;
  invalidBatches: number;
  events: number;
  executionEvents: number;
  stepEvents: number;
  ignoredEvents: number;
  invalidEvents: number;
  accepted: number;
  /** refused by the store (queue full or oversize) */
  shed: number;
  /** sum of the client-reported `dropped` counts */
  clientDropped: number;
  evictedPendingSteps: number;
  /** execution events of optimizer trials (candidate_id/example_id set), not stored */
  optimizerTrials: number;
  lastInvalid: string | null;
}

export class IngestValidationError extends ElexirionError {
  override readonly code: string = 'INGEST_VALIDATION_ERROR';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

type Dict = Record<string, unknown>;

function pick(d: Dict, keys: string[]): unknown {
  for (const k of keys) if (d[k] !== undefined && d[k] !== null) return d[k];
  return undefined;
}

function num(...vals: unknown[]): number | null {
  for (const v of vals) if (typeof v === 'number' && Number.isFinite(v)) return v;
  return null;
}

function idOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

const isTrial = (md: Dict) => (md['candidate_id'] ?? null) !== null || (md['example_id'] ?? null) !== null;

/** Step summaries from a pipeline/execute wire result's `steps` map, if it has one. */
function stepsFromResult(result: unknown, max: number): StepSummary[] | null {
  if (typeof result !== 'object' || result === null) return null;
  const steps = (result as Dict)['steps'];
  if (typeof steps !== 'object' || steps === null || Array.isArray(steps)) return null;
  const out: StepSummary[] = [];
  for (const [name, v] of Object.entries(steps as Dict)) {
    if (out.length >= max) break;
    const st = (typeof v === 'object' && v !== null ? v : {}) as Dict;
    out.push({
      name,
      success: typeof st['success'] === 'boolean' ? st['success'] : null,
      duration_ms: num(st['durationMs'], st['duration_ms']),
    });
  }
  return out;
}

const isEvent = (e: string[], a: string, b: string, c: string) => e.length === 3 && e[0] === a && e[1] === b && e[2] === c;

export class TelemetryIngester {
  private readonly maxPending: number;
  private readonly maxSteps: number;
  private pendingSteps = new Map<string, StepSummary[]>();
  private s: IngesterStats = {
    batches: 0,
    invalidBatches: 0,
    events: 0,
    executionEvents: 0,
    stepEvents: 0,
    ignoredEvents: 0,
    invalidEvents: 0,
    accepted: 0,
    shed: 0,
    clientDropped: 0,
    evictedPendingSteps: 0,
    optimizerTrials: 0,
    lastInvalid: null,
  };

  constructor(
    private readonly sink: RecordSink,
    opts: TelemetryIngesterOptions = {},
  ) {
    this.maxPending = opts.maxPendingExecutions ?? 10_000;
    this.maxSteps = opts.maxStepsPerExecution ?? 200;
  }

  /**
   * Ingests one `telemetry/events` params object. An invalid envelope throws
   * IngestValidationError naming the field; an invalid event is counted and skipped.
   */
  ingest(params: unknown): IngestResult {
    const env = TelemetryEventsParamsSchema.safeParse(params);
    if (!env.success) {
      this.s.invalidBatches++;
      const issue = env.error.issues[0];
      const path = issue ? issue.path.join('.') : '';
      this.s.lastInvalid = `${path}: ${issue?.message ?? 'invalid'}`;
      throw new IngestValidationError(`invalid telemetry/events params at "${path}": ${issue?.message}`, path);
    }
    this.s.batches++;
    this.s.clientDropped += env.data.dropped;
    const res: IngestResult = { events: 0, executions: 0, accepted: 0, shed: 0, invalid: 0 };
    const events = env.data.events;
    for (let i = 0; i < events.length; i++) {
      res.events++;
      const ev = TelemetryEventSchema.safeParse(events[i]);
      if (!ev.success) {
        res.invalid++;
        const issue = ev.error.issues[0];
        this.s.lastInvalid = `events.${i}.${issue?.path.join('.')}: ${issue?.message}`;
        continue;
      }
      this.handle(ev.data, res, i);
    }
    this.s.events += res.events;
    this.s.invalidEvents += res.invalid;
    this.s.accepted += res.accepted;
    this.s.shed += res.shed;
    return res;
  }

  private handle(ev: TelemetryEvent, res: IngestResult, i: number): void {
    const e = ev.event;
    if (isEvent(e, 'pipeline', 'step', 'stop')) {
      this.s.stepEvents++;
      this.addStep(ev);
      return;
    }
    const isStop = isEvent(e, 'pipeline', 'execution', 'stop');
    if (!isStop && !isEvent(e, 'pipeline', 'execution', 'exception')) {
      this.s.ignoredEvents++;
      return;
    }
    this.s.executionEvents++;
    if (isTrial(ev.metadata)) {
      this.s.optimizerTrials++;
      const id = idOf(pick(ev.metadata, ['execution_id', 'run_id']));
      if (id !== null) this.pendingSteps.delete(id);
      return;
    }
    const record = this.toRecord(ev, isStop ? undefined : 'exception');
    if (!record) {
      res.invalid++;
      this.s.lastInvalid = `events.${i}.metadata.pipeline: missing pipeline name`;
      return;
    }
    res.executions++;
    if (this.sink.append(record)) res.accepted++;
    else res.shed++;
  }

  private addStep(ev: TelemetryEvent): void {
    const md = ev.metadata;
    const id = idOf(pick(md, ['execution_id', 'run_id']));
    if (id === null) {
      this.s.ignoredEvents++;
      return;
    }
    const name = pick(md, ['step', 'step_name', 'name']);
    const flag = pick(ev.measurements, ['success']) ?? md['success'];
    const step: StepSummary = {
      name: typeof name === 'string' ? name : String(name ?? '?'),
      success: typeof flag === 'boolean' ? flag : typeof md['status'] === 'string' ? md['status'] === 'success' : null,
      duration_ms: num(ev.measurements['duration_ms'], md['duration_ms']),
    };
    let list = this.pendingSteps.get(id);
    if (!list) {
      if (this.pendingSteps.size >= this.maxPending) {
        const oldest = this.pendingSteps.keys().next().value as string;
        this.pendingSteps.delete(oldest);
        this.s.evictedPendingSteps++;
      }
      list = [];
      this.pendingSteps.set(id, list);
    }
    if (list.length < this.maxSteps) list.push(step);
  }

  /** Maps an execution stop/exception event to a record; null when it names no pipeline. */
  toRecord(ev: TelemetryEvent, forcedStatus?: string): ExecutionRecord | null {
    const md = ev.metadata;
    const m = ev.measurements;
    const pipeline = pick(md, ['pipeline', 'pipeline_name', 'pipeline_id']);
    if (typeof pipeline !== 'string' || pipeline === '') return null;
    const executionId = idOf(pick(md, ['execution_id', 'run_id']));
    let steps: StepSummary[] = [];
    if (executionId !== null) {
      const pending = this.pendingSteps.get(executionId);
      if (pending) {
        steps = pending;
        this.pendingSteps.delete(executionId);
      }
    }
    const fromResult = stepsFromResult(md['result'], this.maxSteps);
    if (fromResult) steps = fromResult;
    const status = forcedStatus ?? readStatus(m, md);
    const record: ExecutionRecord = {
      v: 1,
      pipeline,
      execution_id: executionId,
      status,
      success: status === 'success',
      duration_ms: num(m['duration_ms'], md['duration_ms']),
      time: ev.time,
      quality: qualityScore(status, readFindings(md)),
      steps,
    };
    const input = pick(md, ['input', 'inputs']);
    const output = pick(md, ['result', 'output']);
    if (input !== undefined) record.input = input;
    if (output !== undefined) record.output = output;
    return record;
  }

  stats(): IngesterStats {
    return { ...this.s };
  }
}

