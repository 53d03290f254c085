import { describe, expect, it } from 'vitest';
import { type EventLoop, LocalEventLoop, type LoopResource } from '../../../src/lb/event-loop.js';
import { EventLoopGroup, type GroupResource } from '../../../src/lb/event-loop-group.js';

const names = (loops: (EventLoop | null)[]) => loops.map((l) => l?.name ?? null);

describe('EventLoopGroup', () => {
  it('next() is round robin over the loops, wraps around, and is null when empty', () => {
    const g = new EventLoopGroup('g');
    expect(g.next()).toBeNull();
    for (const n of ['a', 'b', 'c']) g.add(n);
    expect(names(Array.from({ length: 7 }, () => g.next()))).toEqual([
      'a',
      'b',
      'c',
      'a',
      'b',
      'c',
      'a',
    ]);
  });

  it('next(hint) returns the hint loop when it belongs to the group', async () => {
    const g = new EventLoopGroup('g');
    const a = g.add('a');
    const b = g.add('b');
    expect(g.next(b)).toBe(b);
    expect(g.next('a')).toBe(a);
    const stranger = new LocalEventLoop('b');
    expect(g.next(stranger)).not.toBe(stranger); // same name, other loop: round robin instead
    await g.remove('b');
    expect(g.next(b)).toBe(a);
  });

  it('removing loops never leaves the cursor stale', async () => {
    const g = new EventLoopGroup('g');
    for (const n of ['a', 'b', 'c', 'd']) g.add(n);
    g.next();
    g.next();
    g.next(); // cursor at d
    await g.remove('d');
    await g.remove('c');
    // The cursor (3) is taken modulo the new size: it continues at b, then wraps.
    expect(names(Array.from({ length: 4 }, () => g.next()))).toEqual(['b', 'a', 'b', 'a']);
  });

  it('tells group resources about new loops and about closing; loops tell theirs', async () => {
    const g = new EventLoopGroup('g');
    const log: string[] = [];
    const res: GroupResource = {
      id: 'r',
      onEventLoopAdd: (l) => log.push(`add ${l.name}`),
      onClose: () => log.push('group closed'),
    };
    g.attach(res);
    expect(() => g.attach(res)).toThrow(expect.objectContaining({ code: 'ERR_ALREADY_EXISTS' }));
    const a = g.add('a');
    const onLoop: LoopResource = { id: 'x', onClose: (l) => log.push(`loop ${l.name} closed`) };
    a.attach(onLoop);
    expect(() => a.attach(onLoop)).toThrow(expect.objectContaining({ code: 'ERR_ALREADY_EXISTS' }));
    expect(a.resources()).toEqual([onLoop]);
    g.add('b');
    await g.close();
    expect(log).toEqual(['add a', 'add b', 'loop a closed', 'group closed']);
    expect(g.next()).toBeNull();
    expect(() => g.add('c')).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => a.attach({ id: 'y', onClose: () => {} })).toThrow(
      expect.objectContaining({ code: 'ERR_CLOSED' }),
    );
  });

  it('a resource evicted by a removed loop can move to another one', async () => {
    const g = new EventLoopGroup('g');
    g.add('a');
    g.add('b');
    let home: EventLoop | null = null;
    const res: LoopResource = {
      id: 'hc',
      onClose: () => {
        home = g.next();
        home?.attach(res);
      },
    };
    home = g.next('a');
    home?.attach(res);
    await g.remove('a');
    expect((home as EventLoop | null)?.name).toBe('b');
    expect(g.get('b')?.resources()).toEqual([res]);
    await g.close(); // nowhere left to go
    expect(home).toBeNull();
  });

  it('detach only removes the very resource given', () => {
    const loop = new LocalEventLoop('l');
    const r1: LoopResource = { id: 'same', onClose: () => {} };
    const r2: LoopResource = { id: 'same', onClose: () => {} };
    loop.attach(r1);
    expect(loop.detach(r2)).toBe(false);
    expect(loop.detach('same')).toBe(true);
    expect(loop.resources()).toEqual([]);
  });

  it('rejects duplicate and unknown loops and bad names with typed errors', async () => {
    const g = new EventLoopGroup('g');
    g.add('a');
    expect(() => g.add('a')).toThrow(expect.objectContaining({ code: 'ERR_ALREADY_EXISTS' }));
    await expect(g.remove('zz')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(() => g.add('has space')).toThrow(expect.objectContaining({ code: 'ERR_NAME_INVALID' }));
    expect(() => new EventLoopGroup('')).toThrow(
      expect.objectContaining({ code: 'ERR_NAME_INVALID' }),
    );
  });

  it('adopt takes a loop made elsewhere: resources hear of it, the group closes it', async () => {
    const g = new EventLoopGroup('g');
    const added: string[] = [];
    g.attach({ id: 'r', onEventLoopAdd: (l) => added.push(l.name), onClose: () => {} });
    const loop = new LocalEventLoop('made-elsewhere');
    expect(g.adopt(loop)).toBe(loop);
    expect(added).toEqual(['made-elsewhere']);
    expect(() => g.adopt(new LocalEventLoop('made-elsewhere'))).toThrow(
      expect.objectContaining({ code: 'ERR_ALREADY_EXISTS' }),
    );
    await g.close();
    expect(loop.closed).toBe(true);
  });
});
