// Offers: routing asks this agent to accept a conversation (agent hub event `offer`, docs/protocol.md "Routing").
import { ref, type Ref } from 'vue';
import { toDate, type ManagedHub, type OfferDto } from '@parley/shared';
import { api } from '../api';
import type { Offer, Summary } from '../store';

export interface OffersDeps {
  summaries: Ref<Record<string, Summary>>;
  upsert(s: Summary): void;
  hub(): ManagedHub | null;
}

export function useOffers(deps: OffersDeps) {
  const offers = ref<Offer[]>([]);

  function dropOffer(id: string): void {
    if (offers.value.some((o) => o.conversationId === id)) offers.value = offers.value.filter((o) => o.conversationId !== id);
  }

  function onOffer(o: OfferDto): void {
    const id = String(o.conversationId);
    const expires = toDate(o.expiresAt)?.getTime();
    if (o.withdrawn || expires === undefined) {
      dropOffer(id);
      return;
    }
    const s = deps.summaries.value[id];
    const offer: Offer = { conversationId: id, expiresAt: expires, contactName: s?.contactName ?? null, preview: s?.lastMessagePreview ?? null };
    offers.value = [...offers.value.filter((x) => x.conversationId !== id), offer];
    // Who is it? The offer only carries the id; the summary has the visitor's name and first words.
    void api<Summary>('GET', `/conversations/${id}`)
      .then((full) => {
        offers.value = offers.value.map((x) => (x.conversationId === id ? { ...x, contactName: full.contactName ?? null, preview: full.lastMessagePreview ?? null } : x));
      })
      .catch(() => undefined);
  }

  /** A summary changed: an offer of that conversation shows the visitor's current name and last words. */
  function onSummary(s: Summary): void {
    if (offers.value.some((o) => o.conversationId === s.id)) {
      offers.value = offers.value.map((o) => (o.conversationId === s.id ? { ...o, contactName: s.contactName ?? o.contactName, preview: s.lastMessagePreview ?? o.preview } : o));
    }
  }

  /** Takes an offered conversation; throws the hub error (code `offer_gone` when it expired or went elsewhere). */
  async function acceptOffer(id: string): Promise<Summary> {
    try {
      const s = await deps.hub()!.connection.invoke<Summary>('AcceptOffer', id);
      deps.upsert(s);
      return s;
    } finally {
      dropOffer(id);
    }
  }

  async function declineOffer(id: string): Promise<void> {
    try {
      await deps.hub()!.connection.invoke('DeclineOffer', id);
    } finally {
      dropOffer(id);
    }
  }

  return { offers, dropOffer, onOffer, onSummary, acceptOffer, declineOffer };
}
