/** DICOMweb client against an in-process HTTP server on port 0, and the multipart parser on its own. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { DicomWebClient, DicomWebError } from '../../../gateway/src/imaging/dicomweb-client.ts';
import {
  buildMultipart,
  contentTypeParameter,
  parseMultipart,
} from '../../../gateway/src/imaging/multipart.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

test('multipart parsing tolerates a preamble, padding, LF line ends and quoted boundaries', () => {
  const body = enc(
    'preamble to ignore\r\n--b1 \r\nContent-Type: application/dicom\r\n\r\nFIRST\r\n--b1\r\nContent-Type: application/dicom\r\nX-Extra: 1\r\n\r\nSEC\r\nOND\r\n--b1--\r\nepilogue',
  );
  const parts = parseMultipart(body, 'b1');
  assert.deepEqual(
    parts.map((p) => dec(p.body)),
    ['FIRST', 'SEC\r\nOND'],
  );
  assert.equal(parts[1].headers['x-extra'], '1');
  const lf = parseMultipart(enc('--x\nContent-Type: a/b\n\nbody\n--x--\n'), 'x');
  assert.deepEqual(
    lf.map((p) => dec(p.body)),
    ['body'],
  );
  assert.equal(
    contentTypeParameter('multipart/related; type="application/dicom"; boundary="a b"', 'boundary'),
    'a b',
  );
  assert.equal(
    contentTypeParameter('multipart/related;boundary=xyz;type=application/dicom', 'boundary'),
    'xyz',
  );
  const binary = Uint8Array.from([0, 255, 13, 10, 45, 45, 7]);
  const built = buildMultipart(
    [
      { contentType: 'application/dicom', body: binary },
      { contentType: 'application/dicom', body: enc('z') },
    ],
    'q',
  );
  assert.deepEqual(
    parseMultipart(built, 'q').map((p) => Array.from(p.body)),
    [Array.from(binary), [122]],
  );
  assert.throws(() => parseMultipart(enc('no delimiters'), 'q'), /no delimiter/);
  assert.throws(
    () => parseMultipart(enc('--q\r\nContent-Type: a\r\n\r\ncut short'), 'q'),
    /ends inside a part/,
  );
});

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
let handler: Handler = (_req, res) => res.end();
let server: Server;
let baseUrl: string;
const seen: { method?: string; url?: string; headers?: IncomingMessage['headers'] }[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers });
      handler(req, res, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicom-web`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const client = (timeoutMs = 2000): DicomWebClient =>
  new DicomWebClient({ baseUrl, timeoutMs, headers: { Authorization: 'Bearer t0ken' } });

test('QIDO-RS sends the query and configured headers; 204 means no results', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/dicom+json' });
    res.end(JSON.stringify([{ '0020000D': { vr: 'UI', Value: ['1.2.3'] } }]));
  };
  const found = await client().searchSeries('1.2.3', {
    Modality: 'CT',
    limit: 5,
    includefield: ['00080060', '00200011'],
  });
  assert.equal(found.length, 1);
  const last = seen.at(-1)!;
  assert.equal(
    last.url,
    '/dicom-web/studies/1.2.3/series?Modality=CT&limit=5&includefield=00080060&includefield=00200011',
  );
  assert.equal(last.headers?.authorization, 'Bearer t0ken');
  assert.equal(last.headers?.accept, 'application/dicom+json');
  handler = (_req, res) => {
    res.writeHead(204);
    res.end();
  };
  assert.deepEqual(await client().searchStudies(), []);
});

test('WADO-RS parses the multipart answer; STOW-RS sends multipart and reads stored and failed items', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'multipart/related; type="application/dicom"; boundary="bnd"' });
    res.end(
      Buffer.from(buildMultipart([{ contentType: 'application/dicom', body: enc('DICOMBYTES') }], 'bnd')),
    );
  };
  assert.equal(dec(await client().retrieveInstance('1.2', '1.2.3', '1.2.3.4')), 'DICOMBYTES');
  assert.equal(seen.at(-1)!.url, '/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4');

  let received: Buffer = Buffer.alloc(0);
  let contentType = '';
  handler = (req, res, body) => {
    received = body;
    contentType = req.headers['content-type'] ?? '';
    res.writeHead(202, { 'Content-Type': 'application/dicom+json' });
    res.end(
      JSON.stringify({
        '00081199': {
          vr: 'SQ',
          Value: [
            {
              '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
              '00081155': { vr: 'UI', Value: ['9.8.7'] },
            },
          ],
        },
        '00081198': {
          vr: 'SQ',
          Value: [{ '00081155': { vr: 'UI', Value: ['9.8.6'] }, '00081197': { vr: 'US', Value: [272] } }],
        },
      }),
    );
  };
  const result = await client().store([enc('one'), enc('two')]);
  assert.deepEqual(result.stored, [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '9.8.7' }]);
  assert.deepEqual(result.failed, [{ sopInstanceUid: '9.8.6', failureReason: 272 }]);
  const boundary = contentTypeParameter(contentType, 'boundary')!;
  assert.match(contentType, /^multipart\/related; type="application\/dicom"; boundary=/);
  assert.deepEqual(
    parseMultipart(received, boundary).map((p) => dec(p.body)),
    ['one', 'two'],
  );
});

test('HTTP failures map to NOT_FOUND, PACS_ERROR with status, and PACS_UNAVAILABLE on timeouts', async () => {
  const expectCode = async (status: number, code: string): Promise<void> => {
    handler = (_req, res) => {
      res.writeHead(status);
      res.end('nope');
    };
    await assert.rejects(
      client().searchStudies(),
      (e: unknown) => e instanceof DicomWebError && e.code === code && e.status === status,
    );
  };
  await expectCode(404, 'NOT_FOUND');
  await expectCode(500, 'PACS_ERROR');
  await expectCode(401, 'PACS_ERROR');
  await expectCode(503, 'PACS_UNAVAILABLE');
  handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/dicom+json' });
    res.end('{not json');
  };
  await assert.rejects(
    client().searchStudies(),
    (e: unknown) => e instanceof DicomWebError && e.code === 'PACS_ERROR',
  );
  handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<html>');
  };
  await assert.rejects(
    client().retrieveInstance('1', '2', '3'),
    (e: unknown) => e instanceof DicomWebError && /expected multipart\/related/.test(e.message),
  );
  handler = () => {
    // never answers
  };
  await assert.rejects(
    client(150).searchStudies(),
    (e: unknown) =>
      e instanceof DicomWebError && e.code === 'PACS_UNAVAILABLE' && /timed out after 150 ms/.test(e.message),
  );
});

test('only the configured endpoint is reached: UIDs are validated, base URLs must be http(s)', async () => {
  assert.throws(() => new DicomWebClient({ baseUrl: 'file:///etc', timeoutMs: 1000 }), /http or https/);
  assert.throws(() => new DicomWebClient({ baseUrl: 'not a url', timeoutMs: 1000 }), /absolute URL/);
  assert.throws(() => new DicomWebClient({ baseUrl, timeoutMs: 0 }), /timeoutMs/);
  const before = seen.length;
  await assert.rejects(client().retrieveInstance('../../admin', '1', '2'), /DICOM UID/);
  await assert.rejects(client().searchSeries('1.2?x=y'), /DICOM UID/);
  await assert.rejects(client().searchInstances(undefined, '1.2'), /needs its study UID/);
  await assert.rejects(client().store([]), /at least one file/);
  assert.equal(seen.length, before, 'no request was sent');
});
