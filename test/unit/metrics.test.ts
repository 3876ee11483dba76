import t from 'tap';
import { exposition, Metrics, type MetricsSnapshot } from '../../src/metrics/metrics.js';

// The exposition the primary writes from its workers' snapshots: series summed by labels (histograms
// bucket by bucket), `max` families kept at their largest, label values escaped.

t.test('snapshots merge series by labels; histograms whole; escapes as the text format wants', async (t) => {
  const a = new Metrics();
  const b = new Metrics();
  for (const [m, seconds] of [[a, 0.02], [b, 0.3]] as const) {
    const cells = m.model('gpt-4o-mini', 128_000);
    cells.ttft.observe(seconds);
    cells.tokens.inc(10);
  }
  b.rateLimited('requests', 'team "a"\\n', 'gpt-4o-mini');
  const text = exposition([await a.snapshot(), JSON.parse(JSON.stringify(await b.snapshot())) as MetricsSnapshot]);
  t.match(text, /^llm_tokens_generated_total\{model="gpt-4o-mini"\} 20$/m, 'counters add up');
  t.match(text, /^llm_time_to_first_token_seconds_bucket\{le="0\.025",model="gpt-4o-mini"\} 1$/m, 'a bucket holds the one observation at or below it');
  t.match(text, /^llm_time_to_first_token_seconds_bucket\{le="0\.5",model="gpt-4o-mini"\} 2$/m, 'and cumulative counts add up');
  t.match(text, /^llm_time_to_first_token_seconds_bucket\{le="\+Inf",model="gpt-4o-mini"\} 2$/m);
  t.match(text, /^llm_time_to_first_token_seconds_sum\{model="gpt-4o-mini"\} 0\.32$/m);
  t.match(text, /^llm_time_to_first_token_seconds_count\{model="gpt-4o-mini"\} 2$/m);
  t.match(text, /^llm_rate_limit_exceeded_total\{kind="requests",key="team \\"a\\"\\\\n",model="gpt-4o-mini"\} 1$/m, 'quotes and backslashes in label values are escaped');
  t.equal(text.split('\n').filter((l) => l.startsWith('# TYPE llm_tokens_generated_total ')).length, 1, 'one TYPE line per family');
  const lora = text.split('\n').filter((l) => l.startsWith('vllm:lora_requests_info{'));
  t.equal(lora.length, 1, 'a max family keeps one series');
  const written = Number(lora[0]!.slice(lora[0]!.lastIndexOf(' ') + 1));
  t.ok(written <= Date.now() / 1000 && written > Date.now() / 1000 - 60, `at its largest value, not the sum of both (${written})`);
});
