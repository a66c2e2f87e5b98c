import t from 'tap';
import { passwordProblem } from '../../src/auth/password-policy.ts';

t.test('the password rule', async (t) => {
  for (const [password, problem] of [
    ['short', /at least 12/],
    ['x'.repeat(1025), /at most 1024/],
    ['1qaz2wsx3edc', /commonly used/],
    ['Password1234', /commonly used/],
    ['sunshine!!!!!', /commonly used/],
    ['aaaaaaaaaaaaaa', /too easy/],
    ['123456789012345', /commonly used|too easy/],
  ] as const) {
    t.match(passwordProblem(password), problem, `${password.slice(0, 20)} is refused`);
  }
  for (const password of ['correct horse battery staple', 'Tr0ub4dor&3-but-longer', 'clinic night shift 2026']) {
    t.equal(passwordProblem(password), undefined, `${password} is accepted`);
  }
});
