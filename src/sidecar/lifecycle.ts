import { ErrorCode, RpcError } from '../rpc/errors.js';

export type LifecycleState = 'uninitialized' | 'initialized' | 'shutting-down';

/**
 * The sidecar's lifecycle (LSP-like): uninitialized -> `initialize` -> initialized ->
 * `shutdown` -> shutting-down -> `exit` (or stdin EOF / SIGTERM) -> process exit.
 */
export class Lifecycle {
  private current: LifecycleState = 'uninitialized';

  constructor(
    private readonly hooks: {
      methodNames(): string[];
      /** `shutdown` received: stop running work. */
      onShutdown(): void;
      /** Leave the process with this code after flushing. */
      onExit(code: number, reason: string): void;
    },
  ) {}

  get state(): LifecycleState {
    return this.current;
  }

  methodNames(): string[] {
    return this.hooks.methodNames();
  }

  markInitialized(): void {
    if (this.current !== 'uninitialized') {
      throw new RpcError(ErrorCode.InvalidRequest, 'Invalid Request: initialize was already received');
    }
    this.current = 'initialized';
  }

  shutdown(): void {
    this.current = 'shutting-down';
    this.hooks.onShutdown();
  }

  /** `exit` notification: code 0 after `shutdown`, 1 without it (as in LSP). */
  exit(): void {
    this.hooks.onExit(this.current === 'shutting-down' ? 0 : 1, 'exit notification');
  }

  /** Lifecycle refusal for a method, or undefined when it may run now. */
  gate(method: string, kind: 'request' | 'notification', requiresInitialize: boolean): RpcError | undefined {
    if (method === 'exit') return undefined;
    if (this.current === 'uninitialized' && requiresInitialize) {
      return new RpcError(
        ErrorCode.ServerNotInitialized,
        kind === 'request' ? `Server not initialized: send initialize before ${method}` : 'Server not initialized',
      );
    }
    if (this.current === 'shutting-down' && method !== 'ping') {
      return new RpcError(ErrorCode.InvalidRequest, `Invalid Request: server is shutting down (${method} refused)`);
    }
    return undefined;
  }
}
