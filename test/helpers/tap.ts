import t from 'tap';

/** The type of a (sub)test's `t`, as tap's plugins build it (tap exports no name for it). */
export type TapTest = Parameters<Parameters<typeof t.beforeEach>[0]>[0];
