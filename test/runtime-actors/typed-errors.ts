// Test actor for typed errors across threads: a handler that throws a WeightChecksumError, and one
// that throws a plain Error whose message merely mentions a checksum.
import { WeightChecksumError } from '../../src/runtime/errors.js';

export async function badChecksum(): Promise<never> {
  throw new WeightChecksumError('adapter version 3 failed its checksum');
}

export async function mentionsChecksum(): Promise<never> {
  throw new Error('adapter version 3 failed its checksum');
}
