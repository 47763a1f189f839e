// `check` for learner.device webgpu: the adapter Dawn (or the browser) finds, its features and
// limits, and the GPU memory one learner step needs (src/model/cost.ts) against what the GPU has.
// WebGPU does not report a device's memory: it comes from learner.gpu_memory_gib or nvidia-smi.
import { execFileSync } from 'node:child_process';
import type { Qwen2Config } from '../model/config.js';
import { learnerMemory } from '../model/cost.js';
import type { LoraModule } from '../model/lora.js';
import type { ResolvedGrpoConfig } from '../rl/config.js';
import type { LearnerDeviceConfig } from '../rl/learner-config.js';

export interface DeviceCheckReport {
  problems: string[];
  warnings: string[];
  passed: string[];
  memory: { item: string; bytes: number }[];
}

function nvidiaSmiBytes(): number | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const mib = Number(out.trim().split('\n')[0]);
    return mib > 0 ? mib * 2 ** 20 : null;
  } catch {
    return null;
  }
}

export async function checkLearnerDevice(
  dev: LearnerDeviceConfig,
  c: Qwen2Config,
  lora: { r: number; modules: readonly LoraModule[]; dropout: number },
  grpo: ResolvedGrpoConfig,
  rep: DeviceCheckReport,
): Promise<void> {
  if (dev.device !== 'webgpu') return;
  const { acquireGpuDevice } = await import('../ops/webgpu/device.js');
  let info;
  try {
    const got = await acquireGpuDevice();
    info = got.info;
    got.device.destroy();
  } catch (err) {
    rep.problems.push(`learner.device webgpu: ${(err as Error).message}`);
    return;
  }
  const L = info.limits;
  const has = (f: string): string => (info.features.includes(f) ? 'yes' : 'no');
  rep.passed.push(
    `learner.device webgpu: ${info.adapter}; shader-f16 ${has('shader-f16')}, subgroups ${has('subgroups')} (${info.subgroupMinSize}–${info.subgroupMaxSize}), subgroup-matrix ${has('chromium-experimental-subgroup-matrix')}; max storage binding ${(L.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, max buffer ${(L.maxBufferSize / 2 ** 20).toFixed(0)} MiB, workgroup storage ${L.maxComputeWorkgroupStorageSize} B`,
  );
  const g = grpo.config;
  const m = learnerMemory(
    {
      config: c,
      sequences: grpo.completionsPerStep,
      promptLength: g.max_prompt_length ?? 512,
      completionLength: g.max_completion_length,
      microBatchSequences: g.per_device_train_batch_size,
      loraR: lora.r,
      loraModules: lora.modules,
      weightBytes: dev.weight_dtype === 'f16' ? 2 : 4,
      reference: g.beta !== 0,
      recompute: dev.recompute,
    },
    { dropout: lora.dropout > 0, chunkLogitsBytes: 256 * 2 ** 20 },
  );
  rep.memory.push(
    { item: `GPU: base weights (${dev.weight_dtype})`, bytes: m.weights },
    { item: 'GPU: LoRA params, gradients, AdamW moments', bytes: m.lora },
    {
      item: `GPU: activations (${g.per_device_train_batch_size} seqs per micro-batch, recompute ${dev.recompute ? 'on' : 'off'})`,
      bytes: m.activations,
    },
    { item: 'GPU: largest transient set (one layer backward / LM-head chunk)', bytes: m.working },
    { item: 'GPU: total (estimate)', bytes: m.total },
  );
  const have = dev.gpu_memory_gib !== null ? dev.gpu_memory_gib * 2 ** 30 : nvidiaSmiBytes();
  const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (have === null)
    rep.warnings.push(
      `learner.device webgpu: the GPU's memory is unknown (WebGPU does not report it); set learner.gpu_memory_gib to check the estimated ${gib(m.total)}`,
    );
  else if (m.total > have)
    rep.problems.push(
      `learner: one step needs about ${gib(m.total)} of GPU memory, the GPU has ${gib(have)}: lower grpo.per_device_train_batch_size (raise gradient_accumulation_steps), set learner.recompute true or learner.weight_dtype f16`,
    );
  else rep.passed.push(`learner: one step needs about ${gib(m.total)} of GPU memory of ${gib(have)}`);
}
