// A bad config value named by its dotted path. Section parsers throw it without knowing which file
// the section came from; resolveRunConfig adds the file (ConfigError), and callers branch on the
// class, never on the message text.
export class ConfigFieldError extends Error {
  override name = 'ConfigFieldError';
  constructor(
    message: string,
    /** Dotted JSON path of the bad field, from the config's root ('' when unknown). */
    readonly field: string,
  ) {
    super(message);
  }
}
