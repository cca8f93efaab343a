// Files on their way up: shown as rows until their message arrives by push, or with the server's refusal.
import { ref, type Ref } from 'vue';

export interface UploadRow {
  clientId: string;
  conversationId: string;
  name: string;
  error: string | null;
}

export function useUploads(deps: { selectedId: Ref<string | null> }) {
  const uploads = ref<UploadRow[]>([]);

  async function upload(file: File): Promise<void> {
    const id = deps.selectedId.value;
    if (!id) return;
    const clientId = crypto.randomUUID();
    uploads.value = [...uploads.value, { clientId, conversationId: id, name: file.name, error: null }];
    try {
      const res = await fetch(`/api/v1/conversations/${id}/attachments?name=${encodeURIComponent(file.name)}&clientId=${clientId}`, {
        method: 'POST',
        headers: { 'X-Parley-Csrf': '1', 'Content-Type': 'application/octet-stream' },
        credentials: 'same-origin',
        body: file,
      });
      if (!res.ok) {
        const problem = (await res.json().catch(() => ({}))) as { code?: string };
        throw new Error(problem.code ?? 'generic');
      }
      uploads.value = uploads.value.filter((u) => u.clientId !== clientId); // the message itself arrives by push
    } catch (e) {
      uploads.value = uploads.value.map((u) => (u.clientId === clientId ? { ...u, error: e instanceof Error ? e.message : 'generic' } : u));
    }
  }

  function dismissUpload(clientId: string): void {
    uploads.value = uploads.value.filter((u) => u.clientId !== clientId);
  }

  return { uploads, upload, dismissUpload };
}
