/**
 * `npm run bench -- finetune`: one fine-tuning job of the MobileSAM decoder on the 14 shared cardiac slices
 * split by volume (train 2,4; validation 3; test 5 held back), run through the gateway's service as a user's
 * job runs, measured side by side in one run: seconds per epoch (9 training images, 2 per batch, plus the
 * validation slice), the share of each epoch spent outside the decoder's forward and backward passes
 * (sample loading, resize and loss, optimizer, validation), the trainer's peak resident memory, and the
 * job's time outside epochs (encoding with the gateway's encoder, export check, publishing) against the
 * time in them. FT_EPOCHS (default 2) sets the epochs.
 */
import { gql, startTestGateway } from '../helpers/gateway.ts';
import { cardiacDataset, mobileSamRepository } from '../helpers/finetune.ts';

const SLICES = [
  '2_4',
  '2_8',
  '2_9',
  '2_10',
  '3_2',
  '4_2',
  '4_5',
  '4_6',
  '4_7',
  '4_9',
  '5_2',
  '5_5',
  '5_9',
  '5_11',
].map((s) => `22_Heart_${s}`);

/** Runs the suite. */
export async function run(): Promise<void> {
  const epochs = Number(process.env.FT_EPOCHS ?? 2);
  const repo = await mobileSamRepository();
  const data = cardiacDataset(SLICES);
  const gw = await startTestGateway({ modelRepository: repo.dir, dataRoots: [data.dir] });
  try {
    const reg = await gql(
      gw.url,
      `mutation ($p: String!) { registerDataset(input: { path: $p, id: "heart", modality: "MRI",
        classes: [{ value: 85, name: "LV" }, { value: 170, name: "MYO" }, { value: 255, name: "RV" }] }) { id } }`,
      { p: `${data.dir}/heart` },
    );
    if (reg.errors) throw new Error(JSON.stringify(reg.errors));
    const t0 = performance.now();
    const job = await gw.services.finetune.start({
      dataset: 'heart',
      baseModel: 'mobilesam',
      split: 'train=2,4;val=3;test=5',
      epochs,
      seed: 0,
    });
    const done = await gw.services.finetune.settled(job.id);
    const wall = (performance.now() - t0) / 1000;
    if (done?.status !== 'completed')
      throw new Error(`job ${done?.status}: ${done?.errorCode} ${done?.error}`);
    const h = done.history;
    const epochS = h.reduce((a, r) => a + r.seconds, 0);
    const decoderS = h.reduce((a, r) => a + r.decoderSeconds, 0);
    console.log(
      `fine-tuning mobilesam on 9 cardiac slices (volumes 2, 4), validation volume 3, ${epochs} epochs`,
    );
    console.log('epoch  seconds  decoder fwd+bwd s  outside share  peak RSS MiB  loss    val Dice');
    for (const r of h) {
      console.log(
        `${String(r.epoch).padStart(5)}  ${r.seconds.toFixed(1).padStart(7)}  ${r.decoderSeconds.toFixed(1).padStart(17)}  ${(1 - r.decoderSeconds / r.seconds).toFixed(3).padStart(13)}  ${r.peakRssMiB.toFixed(0).padStart(12)}  ${r.loss.toFixed(4)}  ${r.valDice.toFixed(4)}`,
      );
    }
    console.log(`seconds per epoch (mean): ${(epochS / h.length).toFixed(1)}`);
    console.log(
      `share of epoch time outside the decoder forward/backward: ${(1 - decoderS / epochS).toFixed(3)}`,
    );
    console.log(`trainer peak RSS: ${Math.max(...h.map((r) => r.peakRssMiB)).toFixed(0)} MiB`);
    console.log(
      `job wall ${wall.toFixed(1)} s; outside epochs (encode 10 images, trainer start, export check, publish): ${(wall - epochS).toFixed(1)} s = ${((wall - epochS) / epochS).toFixed(2)}x the epochs' time`,
    );
    console.log(
      `validation Dice: base ${done.baseValDice?.toFixed(4)}, kept epoch ${done.result!.bestEpoch} ${done.result!.valDice.toFixed(4)}`,
    );
  } finally {
    await gw.close();
    repo.cleanup();
    data.cleanup();
  }
}
