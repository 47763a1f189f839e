// Example stateless actor (runs on several threads): scores a completion against a reference answer.
export async function score(msg: { completion: string; answer: string }): Promise<{ reward: number }> {
  const m = /\\boxed\{([^}]*)\}/.exec(msg.completion);
  return { reward: m && m[1]!.trim() === msg.answer.trim() ? 1 : 0 };
}
