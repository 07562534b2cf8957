import {
  type ClientMessage,
  type HeadToClientMessage,
  type HeadToNodeMessage,
  JobLedger,
  type NodeMessage,
  type SubmittedJob,
} from '@meshpool/core'
import { Dispatcher } from '../src/head/dispatcher.js'
import { NodeRegistry } from '../src/head/node-registry.js'
import { PoolReach } from '../src/head/pool-reach.js'
import { PoolRegistry } from '../src/head/pool-registry.js'
import { ResultRouter } from '../src/head/result-router.js'
import { RecordingChannel } from './head-fakes.js'

const quiet = () => {}

type Settings = Extract<ClientMessage, { type: 'open' }>['settings']

/** A head's registries and dispatcher, with nodes and clients on recording channels; `clock.now` is the time. */
export function mesh({ alone = false } = {}) {
  let dispatcher: Dispatcher | undefined
  const clock = { now: 0 }
  const now = () => clock.now
  const ledger = new JobLedger({ now })
  const nodes = new NodeRegistry({
    now,
    admission: undefined,
    onNodeEvent: quiet,
    onJoined: (node) => dispatcher?.nodeJoined(node),
    onLeft: (node) => dispatcher?.nodeLeft(node),
    disconnect: quiet,
    note: quiet,
    log: quiet,
  })
  const reach = new PoolReach()
  const pools = new PoolRegistry({
    ledger,
    nodes,
    reach,
    updateLogBytes: 1 << 20,
    maxOpenJobs: 100_000,
    admission: undefined,
    disconnect: quiet,
    note: quiet,
    noteRefusal: quiet,
    log: quiet,
  })
  const router = new ResultRouter({
    ledger,
    nodes,
    pools,
    now,
    room: () => dispatcher?.room ?? 0,
    onJobDone: quiet,
    note: quiet,
  })
  dispatcher = new Dispatcher({ ledger, nodes, pools, router, reach, now, alone, log: quiet })
  const join = (id: string, slots: number) => {
    const channel = new RecordingChannel<NodeMessage, HeadToNodeMessage>()
    const node = nodes.connect(id, channel, { local: false, remoteIp: undefined })
    nodes.hello(node, { type: 'hello', name: id, slots })
    return { node, channel, leased: () => channel.of('lease').flatMap((m) => m.jobs) }
  }
  const open = (worker: string, settings: Settings = {}) => {
    const channel = new RecordingChannel<ClientMessage, HeadToClientMessage>()
    const pool = pools.open({ type: 'open', worker, init: new Uint8Array(), settings }, channel)
    return { pool, channel, results: () => channel.of('results').flatMap((m) => m.results) }
  }
  return { clock, ledger, nodes, dispatcher, join, open }
}

/** `count` jobs with client ids from `from` on. */
export const jobs = (from: number, count: number): SubmittedJob[] =>
  Array.from({ length: count }, (_, i) => ({ id: from + i, params: new Uint8Array([i]) }))
