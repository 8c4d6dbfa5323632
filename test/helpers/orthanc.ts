/**
 * Starts a real Orthanc (Debian packages `orthanc`, `orthanc-dicomweb`) for integration tests: loopback
 * only, free HTTP and DICOM ports, its own temporary storage, DICOMweb plugin at /dicom-web/.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';
import { GENEROUS_MS } from './wait.ts';

/** A running Orthanc and how to reach and stop it. */
export interface OrthancHandle {
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  /** DICOMweb service root, http://127.0.0.1:<port>/dicom-web */
  dicomWebUrl: string;
  dicomPort: number;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes its storage. */
  stop(): Promise<void>;
}

const ORTHANC_BINARY = ['/usr/sbin/Orthanc', '/usr/bin/Orthanc'];

/** The DicomWeb plugin's shared library, as `dpkg -L orthanc-dicomweb` lists it. */
export function findDicomWebPlugin(): string {
  const listed = spawnSync('dpkg', ['-L', 'orthanc-dicomweb'], { encoding: 'utf8' });
  const candidates = (listed.stdout ?? '')
    .split('\n')
    .filter((p) => /libOrthancDicomWeb\.so/.test(p))
    .concat(['/usr/share/orthanc/plugins/libOrthancDicomWeb.so']);
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined)
    throw new Error('Orthanc DICOMweb plugin not found: install the orthanc-dicomweb package');
  return found;
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts Orthanc and resolves once GET /system answers; rejects with its log if it does not within `readyMs`. */
export async function startOrthanc(readyMs = GENEROUS_MS): Promise<OrthancHandle> {
  const binary = ORTHANC_BINARY.find((p) => existsSync(p));
  if (binary === undefined) throw new Error('Orthanc binary not found: install the orthanc package');
  const dir = tempDir('medseg-orthanc-');
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const config = {
    Name: 'MEDSEG_TEST',
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: 'MEDSEGTEST',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    StorageCompression: false,
    ConcurrentJobs: 1,
    HttpsVerifyPeers: false,
    Plugins: [findDicomWebPlugin()],
    DicomWeb: {
      Enable: true,
      Root: '/dicom-web/',
      EnableWado: false,
      Ssl: false,
      StudiesMetadata: 'Full',
      SeriesMetadata: 'Full',
    },
  };
  const configPath = join(dir, 'orthanc.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const child = spawn(binary, [configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + readyMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${httpUrl}/system`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        await res.arrayBuffer();
        return { httpUrl, dicomWebUrl: `${httpUrl}/dicom-web`, dicomPort, stop };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(
    `Orthanc did not become ready within ${readyMs} ms (exit code ${child.exitCode}); log tail:\n${log}`,
  );
}
