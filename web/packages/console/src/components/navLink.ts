/** One destination of the header's navigation (the Admin menu's links). */
export interface NavLink {
  href: string;
  testid: string;
  label: string;
  current: boolean;
}
