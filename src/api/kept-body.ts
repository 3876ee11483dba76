import { flatUtf8 } from '../json.js';
import type { Model } from '../sim/catalogue.js';
import type { Completion, SimRequest } from '../sim/request.js';
import type { TokenText } from '../sim/text.js';

/**
 * The part of a non-stream body that follows the request's own fields (its id, and `created`),
 * kept from a route's last answer with what it was made of. A load tool sending one request
 * again and again gets the same answer object each time (src/sim/text.ts `answerText`), so this
 * part is built once and, from its second use, kept flat: built anew it was the choice, the
 * usage and a few dozen joins, and every answer embedding such a tree walks it again when uWS
 * flattens the body to send it (a chat request: 60.2k → 56.4k instructions, callgrind). A
 * request that differs costs the comparisons in `of`. Only a text answer is kept (tool calls
 * carry fresh ids), and each route keeps its own.
 */
export class KeptBody {
  private text: TokenText | null = null;
  private finish = '';
  private thinking = 0;
  private modelName = '';
  private model: Model | null = null;
  private promptTokens = -1;
  private kept = '';
  private flat = false;

  /** The kept part, when `completion` is the kept answer again, for the same model name and prompt; else null. */
  of(completion: Completion, modelName: string, sim: SimRequest): string | null {
    if (completion.text !== this.text || completion.finish !== this.finish || completion.thinking !== this.thinking || modelName !== this.modelName || sim.model !== this.model || sim.promptTokens !== this.promptTokens) return null;
    if (!this.flat) {
      this.kept = flatUtf8(this.kept);
      this.flat = true;
    }
    return this.kept;
  }

  /** Keeps `part`, built for `completion` (when it is a text answer), and returns it. */
  keep(completion: Completion, modelName: string, sim: SimRequest, part: string): string {
    this.text = completion.toolCalls.length === 0 ? completion.text : null;
    this.finish = completion.finish;
    this.thinking = completion.thinking;
    this.modelName = modelName;
    this.model = sim.model;
    this.promptTokens = sim.promptTokens;
    this.kept = part;
    this.flat = false;
    return part;
  }
}
