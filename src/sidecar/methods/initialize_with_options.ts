import type { InitializeParams, InitializeResult } from '../../protocol/lifecycle.js';
import { invalidParams } from '../../rpc/errors.js';
import { defineMethod, type MethodDefinition } from '../registry.js';

type Schedule = NonNullable<NonNullable<NonNullable<InitializeParams['options']>['learning']>['schedule']>;

/** Cron expressions and the time zone, checked before the handshake completes. */
async function checkSchedule(schedule: Schedule): Promise<void> {
  const { parseCron, assertTimeZone } = await import('../../util/cron.js');
  const issues: Array<{ path: string[]; message: string }> = [];
  const at = (k: string) => ['options', 'learning', 'schedule', k];
  if (schedule.timeZone !== undefined) {
    try {
      assertTimeZone(schedule.timeZone);
    } catch (err) {
      issues.push({ path: at('timeZone'), message: (err as Error).message });
    }
  }
  for (const k of ['daily', 'weekly', 'feedback'] as const) {
    const v = schedule[k];
    if (typeof v !== 'string') continue;
    try {
      parseCron(v);
    } catch (err) {
      issues.push({ path: at(k), message: (err as Error).message });
    }
  }
  if (issues.length > 0) throw invalidParams(issues);
}

/**
 * `initialize` plus its `options`: once the handshake succeeded, `options.learning` configures
 * the learner (a light call: nothing loads before the reply; see learning_service.ts). A
 * schedule is checked first (loading the small cron module only then), so a bad cron
 * expression fails the handshake with -32602 naming it instead of failing the store later.
 */
export function withOptions(base: MethodDefinition<InitializeParams, InitializeResult>): MethodDefinition<InitializeParams, InitializeResult> {
  const finish = (params: InitializeParams, ctx: Parameters<typeof base.handler>[1]): InitializeResult => {
    const result = base.handler(params, ctx) as InitializeResult;
    ctx.services.learning.configure(params.options?.learning);
    return result;
  };
  return defineMethod({
    ...base,
    handler(params, ctx) {
      const schedule = params.options?.learning?.schedule;
      // A second initialize is refused -32600 (by the base handler) whatever its options hold.
      if (!schedule || ctx.services.lifecycle.state !== 'uninitialized') return finish(params, ctx);
      return checkSchedule(schedule).then(() => finish(params, ctx));
    },
  });
}
