import { describe, expect, it } from 'vitest';
import { PeerCancelledError, PeerClosedError, PeerRequestError, PeerTimeoutError, RpcPeer } from '../../src/rpc/peer.js';

function makePeer(timeoutMs = 1000) {
  const sent: Array<Record<string, unknown>> = [];
  const peer = new RpcPeer((m) => sent.push(m), { defaultTimeoutMs: timeoutMs });
  return { peer, sent };
}

describe('RpcPeer (outgoing requests)', () => {
  it('resolves with the matching reply and rejects with the peer error', async () => {
    const { peer, sent } = makePeer();
    const a = peer.request('pipeline/execute', { x: 1 });
    const b = peer.request('pipeline/execute', { x: 2 });
    expect(sent.map((m) => m.id)).toEqual([1, 2]);
    peer.handleResponse(2, undefined, { code: -32000, message: 'nope', data: { why: 1 } });
    peer.handleResponse(1, { ok: true }, undefined);
    await expect(a).resolves.toEqual({ ok: true });
    const err = await b.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerRequestError);
    expect(err).toMatchObject({ code: -32000, data: { why: 1 } });
    expect(peer.pendingCount).toBe(0);
  });

  it('always times out, tells the peer to cancel, and ignores the late reply', async () => {
    const { peer, sent } = makePeer(30);
    const t0 = Date.now();
    const err = await peer.request('pipeline/execute', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(sent[1]).toEqual({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
    peer.handleResponse(1, {}, undefined); // late: dropped
    expect(peer.pendingCount).toBe(0);
  });

  it('a timeout longer than setTimeout can hold waits (clamped) instead of firing at once', async () => {
    const { peer, sent } = makePeer();
    const p = peer.request('pipeline/execute', {}, { timeoutMs: 3_000_000_000 + 5_000 });
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toBe(false);
    expect(sent).toHaveLength(1); // no $/cancelRequest went out
    peer.handleResponse(1, { ok: true }, undefined);
    await expect(p).resolves.toEqual({ ok: true });
  });

  it('rejects at once when its signal aborts, and tells the peer', async () => {
    const { peer, sent } = makePeer(60_000);
    const ac = new AbortController();
    const p = peer.request('pipeline/execute', {}, { signal: ac.signal });
    ac.abort('stop');
    await expect(p).rejects.toBeInstanceOf(PeerCancelledError);
    expect(sent[1]).toEqual({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
    // Already-aborted signals never send the request.
    await expect(peer.request('x', {}, { signal: ac.signal })).rejects.toBeInstanceOf(PeerCancelledError);
    expect(sent).toHaveLength(2);
  });

  it('rejects pending requests on close and refuses new ones; notify never throws', async () => {
    const { peer } = makePeer(60_000);
    const p = peer.request('pipeline/execute', {});
    peer.close();
    await expect(p).rejects.toBeInstanceOf(PeerClosedError);
    await expect(peer.request('x', {})).rejects.toBeInstanceOf(PeerClosedError);
    const throwing = new RpcPeer(() => {
      throw new Error('pipe gone');
    });
    expect(() => throwing.notify('log', { level: 'info', message: 'x' })).not.toThrow();
    await expect(throwing.request('x', {})).rejects.toThrow('pipe gone');
  });
});
