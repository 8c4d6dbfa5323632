/**
 * A hostile or broken PACS behind a running gateway (issue 11 A8 and A9): its error bodies never reach the
 * caller, and an answer that streams without end is cut at the configured cap while it streams.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { errorCode, gql, startTestGateway } from '../helpers/gateway.ts';

const tmp = mkdtempSync(join(tmpdir(), 'medseg-pacs-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SEGMENT = `query Seg($image: ImageInput!) {
  segment(input: { image: $image, prompts: [{ box: { x0: 0, y0: 0, x1: 3, y1: 3 } }] }) { results { masks { area } } }
}`;

describe('a hostile PACS', () => {
  let pacs: Server;
  let gw: RunningGateway;
  let streamed = 0;
  let streamClosed!: Promise<void>;

  before(async () => {
    let closed!: () => void;
    streamClosed = new Promise((resolve) => (closed = resolve));
    pacs = createServer((req, res) => {
      if (req.url?.endsWith('/instances/3')) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('java.lang.NullPointerException at /opt/pacs/internal/Secret.java:42');
        return;
      }
      // An answer without Content-Length that never ends.
      res.writeHead(200, { 'content-type': 'multipart/related; type="application/dicom"; boundary=b' });
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let open = true;
      res.on('close', () => {
        open = false;
        closed();
      });
      const pump = (): void => {
        while (open) {
          streamed += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    await new Promise<void>((resolve) => pacs.listen(0, '127.0.0.1', resolve));
    const { port } = pacs.address() as AddressInfo;
    gw = await startTestGateway({
      tritonUrl: '127.0.0.1:1',
      stateDir: join(tmp, 'state'),
      pacsEndpoints: { fake: { baseUrl: `http://127.0.0.1:${port}/dicom-web` } },
      pacsMaxResponseBytes: 1024 * 1024,
    });
  });
  after(async () => {
    await gw?.close();
    pacs?.closeAllConnections();
    await new Promise((resolve) => pacs?.close(resolve));
  });

  const input = (instance: string) => ({
    image: { dicomweb: { pacs: 'fake', studyUID: '1.2', seriesUID: '1.3', instanceUID: instance } },
  });

  test("the PACS's error body and its URL stay out of the answer", async () => {
    const r = await gql(gw.url, SEGMENT, input('3'));
    assert.equal(errorCode(r), 'PACS_ERROR', JSON.stringify(r.errors));
    const text = JSON.stringify(r.errors);
    assert.match(text, /HTTP 500/);
    assert.doesNotMatch(text, /NullPointer|Secret\.java|\/opt\//);
    assert.doesNotMatch(text, /127\.0\.0\.1|dicom-web/);
  });

  test('an endless answer is cut at the cap while it streams', async () => {
    const r = await gql(gw.url, SEGMENT, input('4'));
    assert.equal(errorCode(r), 'PACS_ERROR', JSON.stringify(r.errors));
    assert.match(r.errors![0].message, /exceeds the limit of 1048576 bytes/);
    await streamClosed;
    // The gateway stopped reading near the cap; what the PACS managed to write is socket buffers on top.
    assert.ok(streamed < 64 * 1024 * 1024, `the PACS wrote ${streamed} bytes before the gateway hung up`);
  });
});
