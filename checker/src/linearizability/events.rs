//! A partition's call and return events as a doubly linked list, the structure the
//! Wing–Gong search walks and edits.

use super::history::Operation;

pub(crate) const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// One call or return event (node 0 is the list's head). Nodes are numbered in time order,
/// so comparing two nodes compares their times.
#[derive(Clone, Copy)]
pub(crate) struct Node {
    pub(crate) next: u32,
    prev: u32,
    /// The partition's operation number.
    pub(crate) op: u32,
    /// For a call, its return's node; for a return (and the head), `NIL`.
    pub(crate) partner: u32,
}

impl Node {
    pub(crate) fn is_call(&self) -> bool {
        self.partner != NIL
    }
}

pub(crate) struct EventList {
    nodes: Vec<Node>,
}

impl EventList {
    /// The events of `ops` in time order. At equal times calls come first, so operations
    /// that touch in time count as concurrent; the returns of operations with unknown
    /// outcome come after everything else.
    pub(crate) fn new<I, O>(ops: &[&Operation<I, O>]) -> Self {
        const CALL: u8 = 0;
        const RETURN: u8 = 1;
        const OPEN: u8 = 2;
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, CALL, i as u32));
            match op.ret {
                Some(ret) => events.push((ret, RETURN, i as u32)),
                None => events.push((u64::MAX, OPEN, i as u32)),
            }
        }
        events.sort_unstable();
        let len = events.len() as u32;
        let head = Node {
            next: if len > 0 { 1 } else { NIL },
            prev: NIL,
            op: NIL,
            partner: NIL,
        };
        let mut nodes = Vec::with_capacity(events.len() + 1);
        nodes.push(head);
        let mut call_node = vec![NIL; ops.len()];
        for (k, &(_, kind, op)) in events.iter().enumerate() {
            let node = k as u32 + 1;
            let next = if node == len { NIL } else { node + 1 };
            nodes.push(Node {
                next,
                prev: node - 1,
                op,
                partner: NIL,
            });
            if kind == CALL {
                call_node[op as usize] = node;
            } else {
                let call = call_node[op as usize];
                assert!(call != NIL, "a return follows its call");
                nodes[call as usize].partner = node;
            }
        }
        Self { nodes }
    }

    /// The first remaining event, or `NIL` when every operation is linearized.
    #[inline]
    pub(crate) fn first(&self) -> u32 {
        self.nodes[HEAD as usize].next
    }

    #[inline]
    pub(crate) fn node(&self, index: u32) -> Node {
        self.nodes[index as usize]
    }

    /// The call node and the return node of each operation.
    pub(crate) fn call_and_return_nodes(&self, ops: usize) -> (Vec<u32>, Vec<u32>) {
        let mut calls = vec![NIL; ops];
        let mut returns = vec![NIL; ops];
        for (index, node) in self.nodes.iter().enumerate().skip(1) {
            if node.is_call() {
                calls[node.op as usize] = index as u32;
            } else {
                returns[node.op as usize] = index as u32;
            }
        }
        (calls, returns)
    }

    /// Removes a call and its return from the list (dancing links: both keep their own
    /// pointers, so `unlift` in reverse order restores them).
    #[inline]
    pub(crate) fn lift(&mut self, call: u32) {
        let c = self.nodes[call as usize];
        self.nodes[c.prev as usize].next = c.next;
        self.nodes[c.next as usize].prev = c.prev;
        let r = self.nodes[c.partner as usize];
        self.nodes[r.prev as usize].next = r.next;
        if r.next != NIL {
            self.nodes[r.next as usize].prev = r.prev;
        }
    }

    #[inline]
    pub(crate) fn unlift(&mut self, call: u32) {
        let c = self.nodes[call as usize];
        let ret = c.partner;
        let r = self.nodes[ret as usize];
        self.nodes[r.prev as usize].next = ret;
        if r.next != NIL {
            self.nodes[r.next as usize].prev = ret;
        }
        self.nodes[c.prev as usize].next = call;
        self.nodes[c.next as usize].prev = call;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(list: &EventList) -> Vec<(u32, bool)> {
        let mut out = Vec::new();
        let mut entry = list.first();
        while entry != NIL {
            let node = list.node(entry);
            out.push((node.op, node.is_call()));
            entry = node.next;
        }
        out
    }

    // Events sort by time, calls before returns at equal times, open returns last; lifting
    // and unlifting in reverse order restores the list.
    #[test]
    fn orders_events_and_restores_after_lift() {
        let a = Operation::completed(0, (), (), 0, 5);
        let b = Operation::completed(0, (), (), 5, 6);
        let c = Operation::open(0, (), (), 1);
        let mut list = EventList::new(&[&a, &b, &c]);
        let all = vec![
            (0, true),
            (2, true),
            (1, true),
            (0, false),
            (1, false),
            (2, false),
        ];
        assert_eq!(order(&list), all);
        let (calls, _) = list.call_and_return_nodes(3);
        list.lift(calls[0]);
        list.lift(calls[1]);
        assert_eq!(order(&list), vec![(2, true), (2, false)]);
        list.unlift(calls[1]);
        list.unlift(calls[0]);
        assert_eq!(order(&list), all);
    }
}
