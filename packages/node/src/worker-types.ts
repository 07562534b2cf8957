import type { SharedRef } from '@meshpool/core'
/** The GPU a slot owns. */
export interface GpuInfo {
  index: number
  uuid: string
  name: string
  memoryTotalMB: number
  memoryUsedMB: number
}

/** What a worker instance learns about its slot when it is constructed. */
export interface WorkerContext {
  nodeId: string
  /** The slot's index on its node. */
  slot: number
  /** The slot's GPU; null on a CPU slot. */
  gpu: GpuInfo | null
}

/** What `run()` gets beside its params. */
export interface JobContext {
  jobId: number
  /** 1 for the first try. */
  attempt: number
  /** Aborts when the job is cancelled or times out. */
  signal: AbortSignal
  /**
   * Cache updates of this pool the slot never got: they were past the update
   * log's byte budget (64 MiB per pool) when the slot loaded the pool. 0 normally.
   */
  missedUpdates: number
  /** Reports progress (0..1) to the caller. */
  progress(fraction: number): void
}

/** The shape of a worker instance, as a slot sees it. */
export interface WorkerInstance {
  run(params: unknown, ctx: JobContext): unknown
  setup?(): unknown
  handleUpdate?(update: unknown): unknown
  dispose?(): unknown
}

/** A worker class as `createPool<typeof Worker>` sees it, to infer its types. */
export type WorkerClass = abstract new (
  // biome-ignore lint/suspicious/noExplicitAny: constructor parameters are inferred from the user's class
  init: any,
  ctx: WorkerContext,
) => {
  // biome-ignore lint/suspicious/noExplicitAny: params are inferred from the user's class
  run(params: any, ctx: JobContext): unknown
  // biome-ignore lint/suspicious/noExplicitAny: updates are inferred from the user's class
  handleUpdate?(update: any): unknown
}

export type InitOf<W extends WorkerClass> = ConstructorParameters<W>[0]
export type ParamsOf<W extends WorkerClass> = Parameters<InstanceType<W>['run']>[0]
/** What a caller passes for a value: any part of it may be a handle from pool.share() to a value of that part's type. */
export type WithShared<T> =
  | T
  | SharedRef<T>
  | (T extends (...args: never[]) => unknown
      ? T
      : T extends readonly (infer U)[]
        ? WithShared<U>[]
        : T extends object
          ? Shareable<T>
          : T)
/** An object whose fields may each be a SharedRef (named, so that type errors read `Shareable<Params>`). */
export type Shareable<T> = { [K in keyof T]: WithShared<T[K]> }
export type ResultOf<W extends WorkerClass> = Awaited<ReturnType<InstanceType<W>['run']>>
export type UpdateOf<W extends WorkerClass> =
  InstanceType<W> extends { handleUpdate?(update: infer U): unknown } ? U : unknown
