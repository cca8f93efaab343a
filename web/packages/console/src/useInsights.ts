import { computed, onBeforeUnmount, ref, watch } from 'vue';
import type { MessageDto } from '@parley/shared';
import { api } from './api';
import type { ConsoleStore } from './store';
import { REFRESH_DEBOUNCE_MS, TakeoverDismissals, debounce, type ConversationInsights } from './insights';

/** Dismissed takeover alerts, per conversation, for as long as the console is open (the pane remounts per conversation). */
const dismissals = new TakeoverDismissals();

/**
 * The open conversation's insights (intent, sentiment, takeover alert, suggested replies): read when the
 * conversation is opened, again ~300 ms after the latest visitor message pushed over the agent hub, and after a
 * reconnect (messages replayed then were never pushed). No polling: the engines only change their mind when the
 * visitor writes. Call it from a component that lives as long as one open conversation.
 */
export function useInsights(store: ConsoleStore, conversationId: string) {
  const insights = ref<ConversationInsights | null>(null);
  const dismissedNow = ref(0); // bumped on dismiss so `banner` recomputes
  let generation = 0;
  let alive = true;

  async function load(): Promise<void> {
    const mine = ++generation;
    try {
      const read = await api<ConversationInsights>('GET', `/conversations/${conversationId}/insights`);
      if (!alive || mine !== generation) return; // a newer read is on its way
      dismissals.observe(conversationId, read);
      insights.value = read;
    } catch {
      // Optional help: a failed read leaves the last one (or nothing) on screen; the next message reads again.
    }
  }

  const refresh = debounce(() => void load(), REFRESH_DEBOUNCE_MS);
  void load();

  const off = store.onHubEvent<MessageDto>('message', (m) => {
    if (String(m.conversationId) === conversationId && m.senderKind === 'visitor' && m.kind === 'text') refresh();
  });
  const stopWatch = watch(store.connection, (state, before) => {
    if (state === 'connected' && before !== 'connected') refresh();
  });

  onBeforeUnmount(() => {
    alive = false;
    refresh.cancel();
    off();
    stopWatch();
  });

  const banner = computed(() => {
    void dismissedNow.value;
    return dismissals.shows(conversationId, insights.value);
  });

  function dismiss(): void {
    dismissals.dismiss(conversationId);
    dismissedNow.value++;
  }

  return { insights, banner, dismiss, refresh: load };
}
