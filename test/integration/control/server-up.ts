import type { CommandExecutor } from '../../../src/control/executor.js';
import { until } from '../../helpers/wait.js';

/**
 * Wait until the first server of `group` is UP, as `L server in server-group` says it;
 * throws after `ms`. A loop that gave up quietly after a few seconds let a test go on
 * against a DOWN server and fail later with a message that did not say why.
 */
export async function firstServerUp(
  ex: CommandExecutor,
  group: string,
  ms = 10_000,
): Promise<void> {
  await until(
    `${group}'s first server UP`,
    async () => {
      const r = await ex.execute(`L server in server-group ${group}`, 'stdio');
      return r.kind === 'list' && String(r.items[0]).endsWith('currently UP');
    },
    ms,
  );
}
