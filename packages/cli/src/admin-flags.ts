export interface AdminFlags {
  adminKey?: string
}

export const ADMIN_KEY_HELP =
  "the head's admin key: the admin.key file it wrote beside its key file (default: $MESHPOOL_ADMIN_KEY_FILE, else ~/.meshpool/admin.key, there on the head's machine)"

/** The admin key file a command was given, for revokeNode / stopNodes (which fall back to the defaults). */
export function adminKeyOf(flags: AdminFlags): { adminKeyFile?: string } {
  return flags.adminKey === undefined ? {} : { adminKeyFile: flags.adminKey }
}
