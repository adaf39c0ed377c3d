export interface Figures {
  events: number;
  bare: { rate: number; seconds: number };
  projector: { rate: number; seconds: number; batches: number; meanBatchSize: number; meanBatchMs: number };
  naive: { rate: number; seconds: number; sample: number };
  /** Kafka Connect's JDBC sink on the same topic, when the run was asked for it (`--peer connect`). */
  peer: { rate: number; seconds: number; flowingRate: number; keptAfterDelete: number } | undefined;
  check: { pass: boolean; problems: string[] };
}

const whole = (n: number) => Math.round(n).toLocaleString('en-US');
const ratio = (n: number) => n.toFixed(2);

function bar(label: string, met: boolean | undefined, detail: string): string {
  const verdict = met === undefined ? 'n/a' : met ? 'met' : 'not met';
  return `  ${label.padEnd(36)} ${verdict.padEnd(8)} ${detail}`;
}

export function printReport(f: Figures): void {
  const toBare = f.projector.rate / f.bare.rate;
  const toNaive = f.projector.rate / f.naive.rate;
  const toPeer = f.peer && f.projector.rate / f.peer.rate;
  const million = 1_000_000;
  const rows: Array<[string, string, string]> = [
    [
      '(a) bare kafkajs read + decode',
      whole(f.bare.rate),
      `${whole(f.events)} events in ${f.bare.seconds.toFixed(2)} s`,
    ],
    [
      '(b) catalogue projector',
      whole(f.projector.rate),
      `${whole(f.events)} events in ${f.projector.seconds.toFixed(2)} s`,
    ],
    [
      '(c) naive, one transaction per event',
      whole(f.naive.rate),
      `${whole(f.naive.sample)} events in ${f.naive.seconds.toFixed(2)} s`,
    ],
  ];
  if (f.peer)
    rows.push([
      '(d) Kafka Connect JDBC sink',
      whole(f.peer.rate),
      `${whole(f.events)} events in ${f.peer.seconds.toFixed(2)} s from launch; ${whole(f.peer.flowingRate)}/s from its first row`,
    ]);
  console.log('');
  console.log(`${'run'.padEnd(38)} ${'events/s'.padStart(10)}   detail`);
  for (const [name, rate, detail] of rows) console.log(`${name.padEnd(38)} ${rate.padStart(10)}   ${detail}`);
  console.log('');
  console.log(`(b) elapsed for N=${whole(f.events)}: ${f.projector.seconds.toFixed(2)} s`);
  console.log(
    `(b) batches: ${whole(f.projector.batches)}, mean ${whole(f.projector.meanBatchSize)} records, mean ${f.projector.meanBatchMs.toFixed(1)} ms each`,
  );
  console.log(`(b)/(a) = ${ratio(toBare)}`);
  console.log(`(b)/(c) = ${ratio(toNaive)}`);
  if (f.peer) {
    console.log(
      `(b)/(d) = ${ratio(toPeer!)}, both from launch; against (d) from its first row: ${ratio(f.projector.rate / f.peer.flowingRate)}`,
    );
    console.log(
      `(d) kept ${whole(f.peer.keptAfterDelete)} rows of deleted ratings: an upsert sink has no delete for a RatingDeleted value`,
    );
  }
  console.log('');
  console.log('bars:');
  console.log(bar('(b)/(a) >= 0.6', toBare >= 0.6, ratio(toBare)));
  console.log(bar('(b)/(c) >= 20', toNaive >= 20, ratio(toNaive)));
  console.log(
    bar(
      '(b) >= 3x Kafka Connect',
      toPeer === undefined ? undefined : toPeer >= 3,
      toPeer ? `${ratio(toPeer)}x` : 'run with --peer connect',
    ),
  );
  const millionSeconds = million / f.projector.rate;
  console.log(
    f.events === million
      ? bar('N=1M under 20 s', f.projector.seconds < 20, `${f.projector.seconds.toFixed(2)} s`)
      : bar(
          'N=1M under 20 s',
          undefined,
          `N is ${whole(f.events)}; at this rate 1M would take ${millionSeconds.toFixed(1)} s`,
        ),
  );
  console.log('');
  console.log(
    `check of (b)${f.peer ? ' and (d)' : ''} against the independent fold: ${f.check.pass ? 'PASS' : 'FAIL'}`,
  );
  for (const problem of f.check.problems) console.log(`  ${problem}`);
}
