// The `stun` npm package ships no type declarations; the cross-check test uses it untyped.
declare module 'stun';
