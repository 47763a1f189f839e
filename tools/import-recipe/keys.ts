// One recipe key → the section that maps it. The order matters: TRL's knob table first (it knows the
// renamed and refused GRPOConfig knobs), then infrastructure keys, then the keys each section handles
// one by one, then the plain number keys; a key none of them knows is refused, never dropped.
import type { ImportContext, KeyHandler } from './context.js';
import { DATA_KEY_HANDLERS } from './data.js';
import { applyListedGrpoKey, GRPO_KEY_HANDLERS } from './grpo.js';
import { ignoreInfrastructureKey, RUN_KEY_HANDLERS } from './infra.js';
import { MODEL_KEY_HANDLERS } from './model.js';
import { applyRewardKwarg, REWARD_KEY_HANDLERS } from './rewards.js';
import { applyTrlKnob } from './trl.js';

/** Every key a section handles one by one (the sections' key sets are disjoint). */
const KEY_HANDLERS = new Map<string, KeyHandler>(
  [GRPO_KEY_HANDLERS, MODEL_KEY_HANDLERS, DATA_KEY_HANDLERS, REWARD_KEY_HANDLERS, RUN_KEY_HANDLERS].flatMap(
    (handlers) => Object.entries(handlers),
  ),
);

/** Maps one recipe key into its section; a key no section knows is refused, never dropped. */
export function applyRecipeKey(ctx: ImportContext, key: string, v: unknown, comment: string): void {
  if (!mapKey(ctx, key, v, comment))
    ctx.recipe.fail(
      key,
      'is not a key loractor can map (not a GRPO/model/PEFT/reward setting it knows, ' +
        'nor a known infrastructure key); remove it or map it by hand',
    );
}

/** Tries the sections in precedence order; false when none knows the key. */
function mapKey(ctx: ImportContext, key: string, v: unknown, comment: string): boolean {
  if (applyTrlKnob(ctx, key, v) || ignoreInfrastructureKey(ctx, key)) return true;
  const handler = KEY_HANDLERS.get(key);
  if (!handler) return applyListedGrpoKey(ctx, key, v) || applyRewardKwarg(ctx, key, v);
  handler(ctx, key, v, comment);
  return true;
}
