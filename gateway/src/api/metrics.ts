/**
 * Prometheus metrics of the gateway (prom-client), exposed at /metrics: GraphQL operations, encoder and
 * decoder latency, decoder batch sizes, embedding cache counters, backend errors by code, benchmark progress.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EmbeddingCache } from '../sam/embedding-cache.ts';

/** What the metrics read of the benchmark engine (BenchmarkService satisfies it). */
export interface BenchmarkProgressSource {
  jobs(): Promise<Array<{ id: string; status: string }>>;
  progress(id: string): Promise<{ done: number; total: number } | undefined>;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The gateway's metric instruments, on their own registry (tests create several gateways per process). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'medseg_graphql_requests_total',
    help: 'GraphQL operations handled, by operation name and outcome (ok or the first error code).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'medseg_graphql_request_duration_seconds',
    help: 'GraphQL operation latency in seconds, by operation name.',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly encoderSeconds = new Histogram({
    name: 'medseg_encoder_duration_seconds',
    help: 'Image encoder ModelInfer latency in seconds (cache misses only).',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly decoderSeconds = new Histogram({
    name: 'medseg_decoder_duration_seconds',
    help: 'Prompt decoder ModelInfer latency in seconds (one batched call).',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly decoderBatchSize = new Histogram({
    name: 'medseg_decoder_batch_size',
    help: 'Prompt sets per decoder ModelInfer call.',
    labelNames: ['model'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly backendErrors = new Counter({
    name: 'medseg_backend_errors_total',
    help: 'Failed inference backend calls by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  /**
   * @param cache the embedding cache whose counters are exported
   * @param benchmarks the benchmark jobs whose progress is exported (stored samples, share done), read at
   *   scrape time for jobs that are queued or running
   */
  constructor(cache: EmbeddingCache, benchmarks?: BenchmarkProgressSource) {
    collectDefaultMetrics({ register: this.registry, prefix: 'medseg_' });
    // Cache counters are read from the cache at scrape time, so they can never drift from it.
    const cacheGauges: Array<[string, string, () => number]> = [
      ['medseg_embedding_cache_hits', 'Embedding cache hits since start.', () => cache.stats().hits],
      ['medseg_embedding_cache_misses', 'Embedding cache misses since start.', () => cache.stats().misses],
      [
        'medseg_embedding_cache_evictions',
        'Embedding cache evictions since start.',
        () => cache.stats().evictions,
      ],
      ['medseg_embedding_cache_bytes', 'Bytes held by the embedding cache.', () => cache.stats().bytes],
      [
        'medseg_embedding_cache_hit_ratio',
        'hits / (hits + misses) of the embedding cache since start (0 before any lookup).',
        () => {
          const s = cache.stats();
          return s.hits + s.misses > 0 ? s.hits / (s.hits + s.misses) : 0;
        },
      ],
    ];
    if (benchmarks) {
      const active = async () =>
        (await benchmarks.jobs()).filter((j) => j.status === 'running' || j.status === 'queued');
      new Gauge({
        name: 'medseg_benchmark_samples_done',
        help: 'Samples stored so far by each queued or running benchmark job.',
        labelNames: ['job'] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const j of await active())
            this.set({ job: j.id }, (await benchmarks.progress(j.id))?.done ?? 0);
        },
      });
      new Gauge({
        name: 'medseg_benchmark_progress_ratio',
        help: 'Share of each queued or running benchmark job that is done (0-1).',
        labelNames: ['job'] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const j of await active()) {
            const p = await benchmarks.progress(j.id);
            this.set({ job: j.id }, p && p.total > 0 ? p.done / p.total : 0);
          }
        },
      });
    }
    for (const [name, help, read] of cacheGauges) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    }
  }
}
