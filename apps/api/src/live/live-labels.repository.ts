import { Injectable } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { agentLabels, type Labels } from '@opamp/domain';

/** Most agents looked up in one query (the hub asks once per batch of stream entries). */
const MAX_UIDS_PER_QUERY = 1000;

/** The labels selectors match against, for the live streams' selector filters. */
@Injectable()
export class LiveLabelsRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Merged labels (identifying attributes < non-identifying attributes < API labels, as
   * selectors see them) of the stored agents among `uids`; agents not stored yet are absent.
   */
  async mergedLabels(uids: readonly string[]): Promise<Map<string, Labels>> {
    const out = new Map<string, Labels>();
    const unique = [...new Set(uids.map((u) => u.toLowerCase()))].filter((u) => /^[0-9a-f-]{36}$/.test(u));
    for (let i = 0; i < unique.length; i += MAX_UIDS_PER_QUERY) {
      const chunk = unique.slice(i, i + MAX_UIDS_PER_QUERY);
      const rows = await this.prisma.$queryRaw<Array<{ uid: string; labels: unknown; description: unknown }>>`
        SELECT uid::text AS uid, labels, description FROM agents WHERE uid = ANY(${chunk}::uuid[])`;
      for (const r of rows) {
        const d = (r.description ?? {}) as {
          identifying?: Record<string, unknown>;
          nonIdentifying?: Record<string, unknown>;
        };
        const labels = (r.labels ?? {}) as Record<string, unknown>;
        out.set(r.uid, agentLabels({ identifying: d.identifying, nonIdentifying: d.nonIdentifying, labels }));
      }
    }
    return out;
  }
}
