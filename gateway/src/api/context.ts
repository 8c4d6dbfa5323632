/** What every resolver receives: the request id and the gateway's long-lived services. */
import type DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { JobRow } from '../bench/job-store.ts';
import type { FineTuneJobRow } from '../finetune/finetune-store.ts';
import type { SamModel } from '../sam/contract.ts';
import type { EmbeddingInfo, ModelListing, SamSession } from '../sam/session.ts';
import type { ImageInputArg } from './image-input.ts';
import type { Semaphore } from '../core/semaphore.ts';
import type { BenchmarkService } from '../bench/benchmark-service.ts';
import type { GatewayConfig } from '../config.ts';
import type { FineTuneService } from '../finetune/finetune-service.ts';
import type { Principal } from './auth.ts';
import type { EmbeddingCache } from '../sam/embedding-cache.ts';
import type { SessionStore } from './annotation-sessions.ts';
import type { LowResStore } from './low-res-store.ts';
import type { MedicalServices } from './medical/services.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { CallerLimiter } from './rate-limit.ts';
import type { SharedHandles } from './shared-handles.ts';
import type { PubSub } from './pubsub.ts';

/** Long-lived services shared by all requests (built once by the composition root). */
export interface ApiServices {
  config: Readonly<GatewayConfig>;
  sam: SamSession;
  cache: EmbeddingCache;
  lowRes: LowResStore;
  sessions: SessionStore;
  log: Logger;
  metrics: GatewayMetrics;
  /** The benchmark engine (jobs in STATE_DIR/bench.sqlite). */
  benchmark: BenchmarkService;
  /** Fine-tuning jobs (stored beside the benchmark jobs). */
  finetune: FineTuneService;
  /** In-process pub/sub behind GraphQL subscriptions (job progress). */
  pubsub: PubSub;
  /** PACS endpoints, volume jobs and embedding spacings of the medical API. */
  medical: MedicalServices;
  /** Bounds image inputs read, decoded and encoded at once (MAX_DECODES, DECODE_QUEUE). */
  decodes: Semaphore;
  /**
   * Embedding, low-res and session handles shared through the PostgreSQL store, so that any replica
   * honours them; absent on SQLite (one process).
   */
  handles?: SharedHandles;
  /** The rate limiter shared by every replica (store-backed); absent: each process limits on its own. */
  limiter?: CallerLimiter;
}

/** Per-request GraphQL context. */
export interface ApiContext {
  requestId: string;
  services: ApiServices;
  /** Who is calling, as the HTTP or WebSocket layer authenticated it (auth.ts); absent = nobody. */
  principal?: Principal;
  /** Aborted when the client goes away before the answer is sent (long work checks it and stops). */
  signal?: AbortSignal;
  /** This request's loaders (request-loaders.ts): models, embeddings and jobs read once per operation. */
  loaders: RequestLoaders;
}

/** An image input and the model to encode it with: the key of {@link RequestLoaders.embeddingByImage}. */
export interface ImageKey {
  image: ImageInputArg;
  /** Model name (the configured default already applied). */
  model: string;
}

/** The loaders of one request (built by request-loaders.ts). */
export interface RequestLoaders {
  /** SAM models by name (encoder, decoder, validated profile); rejects with the session's typed error. */
  model: DataLoader<string, SamModel>;
  /** Listings of servable models by name (null: not served): every name asked in one operation, one listing. */
  modelListing: DataLoader<string, ModelListing | null>;
  /** Embeddings of image inputs: the same image and model read, decoded and encoded once per request. */
  embeddingByImage: DataLoader<ImageKey, EmbeddingInfo, string>;
  /** Embeddings by id (null: unknown or expired), shared handles fetched once; primed by image loads. */
  embeddingById: DataLoader<string, EmbeddingInfo | null>;
  /** Benchmark jobs by id, null when unknown or not visible to the caller (its owner or an admin). */
  benchmarkJob: DataLoader<string, JobRow | null>;
  /** Volume jobs by id (this replica's or the shared store's), null when unknown or another caller's. */
  volumeJob: DataLoader<
    string,
    NonNullable<Awaited<ReturnType<ApiServices['medical']['volumeJobs']['findShared']>>> | null
  >;
  /** Fine-tuning jobs by id, null when unknown. */
  fineTuneJob: DataLoader<string, FineTuneJobRow | null>;
}
