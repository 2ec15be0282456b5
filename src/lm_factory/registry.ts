/**
 * LMRegistry: one ManagedLM per spec, built on first use and reused, so every caller of the
 * same spec shares its cache, and all of them count into one UsageTracker. Meant for
 * long-lived hosts (the sidecar's `lm/generate` gets a spec string per request: building a
 * fresh LM each time would start from an empty memory cache).
 */
import { createLM, type CreateLMOptions } from './create.js';
import type { ManagedLM } from '../lm/managed.js';
import { formatLMSpec, parseLMSpec, validateLMSpec, type LMSpec } from '../lm/spec.js';
import { UsageTracker } from '../lm/usage.js';

export class LMRegistry {
  readonly usage: UsageTracker;
  private readonly lms = new Map<string, ManagedLM>();

  /** `opts` apply to every LM built; `opts.usage` (else a new tracker) is shared by all. */
  constructor(private readonly opts: CreateLMOptions = {}) {
    this.usage = opts.usage ?? new UsageTracker();
  }

  /** The LM for `spec` (equivalent spellings share one LM). Throws LMError{kind:'config'} on a bad spec. */
  get(spec: string | LMSpec): ManagedLM {
    const parsed = typeof spec === 'string' ? parseLMSpec(spec) : validateLMSpec(spec);
    const key = formatLMSpec(parsed);
    let lm = this.lms.get(key);
    if (!lm) {
      lm = createLM(parsed, { ...this.opts, usage: this.usage });
      this.lms.set(key, lm);
    }
    return lm;
  }

  /** Specs built so far, in creation order. */
  specs(): string[] {
    return [...this.lms.keys()];
  }
}
