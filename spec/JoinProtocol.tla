---------------------------- MODULE JoinProtocol ----------------------------
(***************************************************************************)
(* Join protocol for a primary-backup group with backup resources          *)
(* (after US 7,246,261 and US 7,117,213).  See PROTOCOL.md for the brief   *)
(* and spec/README.md for a walk-through of this module.                   *)
(*                                                                         *)
(* This module mirrors the Python model in model/pbjoin_model/ exactly   *)
(* (protocol/machine.py and protocol/invariants.py):                      *)
(* the same state variables, one action per Python action function (same  *)
(* name and parameters), one operator per Python helper (in CamelCase) and *)
(* one invariant per Python predicate.  Python's nodes 0..N-1 are the      *)
(* model values of Node, Python's resource r is resource r+1 here, and     *)
(* Python's bitmask sets of resources are subsets of Res.                  *)
(*                                                                         *)
(* The spec is written in a functional style: the current state is the    *)
(* record S; each action computes its successor as a record of all         *)
(* variables with helper operators that mirror the Python `_Effects`       *)
(* methods (Send, Pop, Multicast, SetCfg), passes it through Compact (the  *)
(* Python `compact` normalisation) and Commit assigns every primed         *)
(* variable from that record.                                              *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets, TLC

CONSTANTS
    Node,              \* set of model values: the cluster nodes
    NumRes,            \* number of resources; Res == 1..NumRes, in failover-preference order
    MaxFailures,       \* bound on Crash steps
    MaxRestarts,       \* bound on Restart steps
    MaxConfigChanges,  \* bound on ChangeConfig steps
    MaxWrites,         \* bound on client writes (Write steps); 0 switches the data path off
    MaxResourceFailures, \* bound on FailResource steps; 0 switches resource failures off
    NoNode,            \* model value: "no host"
    NoView             \* model value: "holds no group state"

ASSUME /\ NumRes \in Nat \ {0}
       /\ MaxFailures \in Nat
       /\ MaxRestarts \in Nat
       /\ MaxConfigChanges \in Nat
       /\ MaxWrites \in Nat
       /\ MaxResourceFailures \in Nat
       /\ NoNode \notin Node
       /\ NoView # NoNode

Res == 1..NumRes

(* Client writes are numbered in submission order. *)
Writes == 1..MaxWrites

(* With no writes there is nothing to fence: no epochs are taken and no node pauses, *)
(* so the join protocol's state space is exactly what it is without the data path.  *)
DataPath == MaxWrites > 0

(* Epochs a primary host can act under: every takeover of a production copy after *)
(* the first needs an earlier primary host to have failed.                        *)
Epochs == 0..(1 + MaxFailures + MaxResourceFailures)

(* Node phases: the node's own, local progress. *)
Phases    == {"out", "waitState", "waitPlace", "waitConfig", "member", "rejected", "down"}
HoldsView == {"waitPlace", "waitConfig", "member"}
InGroup   == {"waitState", "waitPlace", "waitConfig", "member"}

(* Member status and mirroring status inside a replicated group state. *)
Statuses == {"absent", "joining", "placed", "active"}
Mirrors  == {"none", "syncing", "active"}

(* Message kinds: ordered (group) messages and point-to-point messages. *)
(* RES_FAIL and RES_REPAIR: a resource's host reports that it failed or came back. *)
MsgKinds == {"JOIN", "ACCESS", "JOIN_DONE", "MIRROR_ACTIVE", "FAIL", "RES_FAIL", "RES_REPAIR"}
P2PKinds == {"GROUP_STATE", "CONFIG", "START_MIRROR"}

(* Data-path messages (primary host <-> backup hosts) and what became of a write;  *)
(* "unknown": its writer failed before answering, so the client never learns.      *)
DataKinds     == {"WRITE", "ACK"}
WriteStatuses == {"none", "pending", "acked", "refused", "unknown"}

VARIABLES
    access,       \* [Node -> SUBSET Res]: resources each node can reach (static wiring)
    phase,        \* [Node -> Phases]
    cursor,       \* [Node -> Nat]: ordered messages of `log` delivered (0 without a view)
    view,         \* [Node -> group state \cup {NoView}]: the replicated group state held
    log,          \* Seq(ordered message): the ordered stream not yet folded into `durable`
    chan,         \* [Node \X Node -> Seq(P2P message)]: FIFO per (sender, receiver)
    cfg,          \* [Node -> [Res -> Nat]]: configuration version held, 0 = none
    resVer,       \* [Res -> Nat]: configuration version stored on the resource
    dataCurrent,  \* [Res -> BOOLEAN]: holds the current production data (ghost)
    crashes,      \* number of Crash steps taken
    restarts,     \* number of Restart steps taken
    cfgChanges,   \* number of ChangeConfig steps taken
    durable,      \* group state after every ordered message already dropped from `log`
    inc,          \* [Node -> Nat]: current incarnation of each node (restarts so far)
    \* The data path (constant when MaxWrites = 0):
    data,         \* [Res -> Seq(Writes)]: the writes each copy holds, in order
    fence,        \* [Res -> Nat]: the highest epoch each copy has accepted
    epoch,        \* [Node -> Nat]: the epoch a node acts under as primary host, 0 = none
    stale,        \* [Node -> group state \cup {NoView}]: the view a paused node still acts on
    dchan,        \* [Node \X Node -> Seq(data message)]: data-path FIFO per (sender, receiver)
    writes,       \* [Writes -> write record]: each client write's fate
    \* Resource failures (constant when MaxResourceFailures = 0):
    broken,       \* SUBSET Res: resources that failed and are not repaired; nobody reaches them
    resFailures   \* number of FailResource steps taken

vars == <<access, phase, cursor, view, log, chan, cfg, resVer, dataCurrent,
          crashes, restarts, cfgChanges, durable, inc,
          data, fence, epoch, stale, dchan, writes, broken, resFailures>>

(***************************************************************************)
(* Small utilities                                                         *)
(***************************************************************************)
Min(T) == CHOOSE x \in T : \A y \in T : x <= y

InSeq(x, s) == \E i \in 1..Len(s) : s[i] = x

Remove(s, x) == LET NotX(y) == y # x IN SelectSeq(s, NotX)

IsSeqOf(s, T) == s \in [1..Len(s) -> T]

(***************************************************************************)
(* Messages.  Ordered messages are uniform records                        *)
(* [kind, node, inc, res, rset]: inc is the incarnation of `node` that the *)
(* message is from or about; res is 0 and rset is {} where unused.         *)
(* Point-to-point messages are uniform records                             *)
(* [kind, res, ver, gs, cur, data, ep] (res, ver and ep are 0, gs NoView    *)
(* and data <<>> where unused).  cur is the sender's cursor when it sent:   *)
(* for GROUP_STATE the position the state reflects, for CONFIG and         *)
(* START_MIRROR how far the receiver must have delivered before it takes    *)
(* the message.  A START_MIRROR carries the resynchronisation: the          *)
(* production copy's writes when it was sent, and the sender's epoch.       *)
(* Data-path messages are uniform records [kind, w, res, pos, ep, cur]:     *)
(* WRITE(w at production position pos, epoch ep, for mirror res, writer's   *)
(* cursor cur) and ACK(w, res) with pos, ep and cur 0.  A write record is   *)
(* [st, by, pos, ep, wait]: status, writer, position and epoch it was taken *)
(* at, and the mirrors whose acknowledgement it still waits for.           *)
(***************************************************************************)
Msg(k, n, i, r, rs) == [kind |-> k, node |-> n, inc |-> i, res |-> r, rset |-> rs, ver |-> 0]

JoinMsg(n, i)            == Msg("JOIN", n, i, 0, {})
AccessMsg(n, i, rs)      == Msg("ACCESS", n, i, 0, rs)   \* res: the (unused) host claim
JoinDoneMsg(n, i)        == Msg("JOIN_DONE", n, i, 0, {})
MirrorActiveMsg(n, i, r, v) == [Msg("MIRROR_ACTIVE", n, i, r, {}) EXCEPT !.ver = v]
FailMsg(n, i)            == Msg("FAIL", n, i, 0, {})
ResFailMsg(n, i, r)      == Msg("RES_FAIL", n, i, r, {})
ResRepairMsg(n, i, r)    == Msg("RES_REPAIR", n, i, r, {})

P2P(k, r, v, g, c, d, ep) == [kind |-> k, res |-> r, ver |-> v, gs |-> g, cur |-> c, data |-> d, ep |-> ep]

GroupStateMsg(g, c)          == P2P("GROUP_STATE", 0, 0, g, c, <<>>, 0)
ConfigMsg(r, v, c)            == P2P("CONFIG", r, v, NoView, c, <<>>, 0)
StartMirrorMsg(r, v, c, d, ep) == P2P("START_MIRROR", r, v, NoView, c, d, ep)

WriteMsg(w, b, pos, ep, c) == [kind |-> "WRITE", w |-> w, res |-> b, pos |-> pos, ep |-> ep, cur |-> c]
AckMsg(w, b)               == [kind |-> "ACK", w |-> w, res |-> b, pos |-> 0, ep |-> 0, cur |-> 0]

NoWrite == [st |-> "none", by |-> NoNode, pos |-> 0, ep |-> 0, wait |-> {}]

(***************************************************************************)
(* Group state                                                             *)
(***************************************************************************)
InitialGroupState ==
    [prim   |-> 1,
     sub    |-> [r \in Res |-> <<>>],
     host   |-> [r \in Res |-> NoNode],
     mirror |-> [r \in Res |-> "none"],
     status |-> [n \in Node |-> "absent"],
     acc    |-> [n \in Node |-> {}],
     inc    |-> [n \in Node |-> 0],
     lost   |-> {},   \* resources whose failure is delivered, with no repair since
     rounds |-> [r \in Res |-> 0]]   \* per resource: its mirroring round

(* The resource whose subgroup n belongs to, or 0. *)
ResOf(gs, n) ==
    LET rs == {r \in Res : InSeq(n, gs.sub[r])}
    IN  IF rs = {} THEN 0 ELSE Min(rs)

IsPrimaryHost(gs, n) == gs.host[gs.prim] = n

(* n is the primary host and the primary resource has not failed: it can serve and mirror. *)
UsablePrimaryHost(gs, n) == IsPrimaryHost(gs, n) /\ gs.prim \notin gs.lost

(* The primary host, else the first host in resource order, else NoNode. *)
Sponsor(gs) ==
    LET hosted == {r \in Res : gs.host[r] # NoNode}
    IN  IF gs.host[gs.prim] # NoNode THEN gs.host[gs.prim]
        ELSE IF hosted # {} THEN gs.host[Min(hosted)]
        ELSE NoNode

(* The resource a joiner with access set rset is placed on, or 0 (rejected).  A *)
(* failed resource counts as unreachable.                                       *)
Placement(gs, rset) ==
    LET ok == rset \ gs.lost
    IN  IF gs.prim \in ok THEN gs.prim
        ELSE IF ok # {} THEN Min(ok)
        ELSE 0

(* Mirroring restarts from a (new) primary host to every hosted backup that has not failed. *)
RestartMirrors(lost, mirror, host, prim) ==
    [b \in Res |-> IF b # prim
                     THEN IF host[b] # NoNode /\ b \notin lost THEN "syncing" ELSE "none"
                     ELSE mirror[b]]

(* Mirroring rounds: a repair of a resource or of the production copy, and a failover *)
(* on a resource failure (the old primary host lives on), start a new round of every  *)
(* backup concerned; a START_MIRROR names its round, and one of an earlier round is    *)
(* stale (its copy may lack what was written meanwhile), as is its MIRROR_ACTIVE.      *)
NextRounds(gs) == [b \in Res |-> gs.rounds[b] + 1]

(* Backup b's mirroring when its host changes: synchronising while b and the production *)
(* copy both have a host and neither has failed.                                        *)
Resync(lost, host, prim, b) ==
    IF host[b] # NoNode /\ host[prim] # NoNode /\ b \notin lost /\ prim \notin lost
      THEN "syncing" ELSE "none"

(* The first hosted backup (resource order) whose mirror is active, or 0. *)
FailoverTarget(gs, host) ==
    LET ok == {b \in Res : b # gs.prim /\ host[b] # NoNode /\ gs.mirror[b] = "active"}
    IN  IF ok = {} THEN 0 ELSE Min(ok)

ApplyAccess(gs, m) ==
    LET j == m.node
        r == Placement(gs, m.rset)
    IN  IF gs.status[j] # "joining" THEN gs
        ELSE IF r = 0 THEN [gs EXCEPT !.status[j] = "absent"]
        ELSE
          LET host   == IF gs.host[r] = NoNode THEN [gs.host EXCEPT ![r] = j] ELSE gs.host
              mirror == IF host[r] = j
                          THEN IF r = gs.prim
                                 THEN RestartMirrors(gs.lost, gs.mirror, host, gs.prim)
                                 ELSE [gs.mirror EXCEPT ![r] = Resync(gs.lost, host, gs.prim, r)]
                          ELSE gs.mirror
          IN  [gs EXCEPT !.sub[r]    = Append(@, j),
                         !.host      = host,
                         !.mirror    = mirror,
                         !.status[j] = "placed",
                         !.acc[j]    = m.rset]

ApplyFail(gs, f) ==
    LET status == [gs.status EXCEPT ![f] = "absent"]
        acc    == [gs.acc EXCEPT ![f] = {}]
        r      == ResOf(gs, f)
    IN  IF gs.status[f] = "absent" THEN gs
        ELSE IF r = 0 THEN [gs EXCEPT !.status = status, !.acc = acc]
        ELSE
          LET sub   == [gs.sub EXCEPT ![r] = Remove(@, f)]
              prim  == gs.prim
              host  == IF gs.host[r] = f
                         THEN [gs.host EXCEPT ![r] = IF sub[r] # <<>> THEN Head(sub[r]) ELSE NoNode]
                         ELSE gs.host
              target == FailoverTarget(gs, host)
              \* <<prim, mirror>> after the host replacement
              pm == IF gs.host[r] # f THEN <<prim, gs.mirror>>
                    ELSE IF r # prim
                      THEN <<prim, [gs.mirror EXCEPT ![r] = Resync(gs.lost, host, prim, r)]>>
                    ELSE IF host[prim] # NoNode   \* switchover inside the primary subgroup
                      THEN <<prim, IF prim \in gs.lost THEN gs.mirror
                                   ELSE RestartMirrors(gs.lost, gs.mirror, host, prim)>>
                    ELSE IF target # 0            \* failover to a synchronised backup
                      THEN <<target,
                             RestartMirrors(gs.lost,
                                            [gs.mirror EXCEPT ![prim] = "none", ![target] = "none"],
                                            host, target)>>
                    ELSE <<prim, gs.mirror>>
          IN  [prim |-> pm[1], sub |-> sub, host |-> host, mirror |-> pm[2],
               status |-> status, acc |-> acc, inc |-> gs.inc, lost |-> gs.lost, rounds |-> gs.rounds]

(* Resource m.res failed, as its host reports (only the resource's host in the     *)
(* deliverer's view may): it stops counting as a mirror; if it was the primary     *)
(* resource, the primary role fails over to the first synchronised backup, and     *)
(* with none, mirroring from the unreachable production copy stops.                *)
ApplyResFail(gs, m) ==
    LET r    == m.res
        lost == gs.lost \cup {r}
        target == FailoverTarget(gs, gs.host)
    IN  IF r \in gs.lost \/ gs.host[r] # m.node THEN gs
        ELSE IF r # gs.prim
          THEN [gs EXCEPT !.mirror[r] = "none", !.lost = lost]
        ELSE IF target # 0
          THEN [gs EXCEPT !.prim = target,
                          !.mirror = RestartMirrors(lost, [gs.mirror EXCEPT ![target] = "none"],
                                                    gs.host, target),
                          !.lost = lost,
                          !.rounds = NextRounds(gs)]
        ELSE [gs EXCEPT !.mirror = [b \in Res |-> "none"], !.lost = lost]

(* Resource m.res came back, as its host reports; it resynchronises before it counts. *)
ApplyResRepair(gs, m) ==
    LET r    == m.res
        lost == gs.lost \ {r}
    IN  IF r \notin gs.lost \/ gs.host[r] # m.node THEN gs
        ELSE IF r = gs.prim
          THEN [gs EXCEPT !.mirror = RestartMirrors(lost, gs.mirror, gs.host, r), !.lost = lost,
                          !.rounds = NextRounds(gs)]
        ELSE [gs EXCEPT !.mirror[r] = Resync(lost, gs.host, gs.prim, r), !.lost = lost,
                        !.rounds[r] = @ + 1]

(* The deterministic effect of delivering one ordered message on a group state. *)
ApplyMessage(gs, m) ==
    CASE m.kind = "JOIN" ->
             IF gs.status[m.node] # "absent" THEN gs
             ELSE [gs EXCEPT !.status[m.node] = "joining", !.inc[m.node] = m.inc]
      [] m.kind = "ACCESS" -> ApplyAccess(gs, m)
      [] m.kind = "JOIN_DONE" ->
             IF gs.status[m.node] # "placed" THEN gs
             ELSE [gs EXCEPT !.status[m.node] = "active"]
      [] m.kind = "MIRROR_ACTIVE" ->
             \* one of an earlier round answers a resynchronisation a repair made stale
             IF /\ gs.host[m.res] = m.node /\ m.res # gs.prim /\ gs.mirror[m.res] = "syncing"
                /\ m.ver = gs.rounds[m.res]
               THEN [gs EXCEPT !.mirror[m.res] = "active"]
               ELSE gs
      [] m.kind = "FAIL" -> ApplyFail(gs, m.node)
      [] m.kind = "RES_FAIL" -> ApplyResFail(gs, m)
      [] m.kind = "RES_REPAIR" -> ApplyResRepair(gs, m)

(* The group state after the first `upto` ordered messages still in st.log. *)
Replay(st, upto) ==
    LET F[i \in 0..upto] == IF i = 0 THEN st.durable ELSE ApplyMessage(F[i - 1], st.log[i])
    IN  F[upto]

(***************************************************************************)
(* States as records, and the compact normalisation                        *)
(***************************************************************************)
S == [access |-> access, phase |-> phase, cursor |-> cursor, view |-> view,
      log |-> log, chan |-> chan, cfg |-> cfg, resVer |-> resVer,
      dataCurrent |-> dataCurrent, crashes |-> crashes, restarts |-> restarts,
      cfgChanges |-> cfgChanges, durable |-> durable, inc |-> inc,
      data |-> data, fence |-> fence, epoch |-> epoch, stale |-> stale, dchan |-> dchan,
      writes |-> writes, broken |-> broken, resFailures |-> resFailures]

(* Fold the log prefix that nobody can still need into `durable`.  A prefix *)
(* is still needed while a live holder has not delivered it or a           *)
(* GROUP_STATE in flight will set a joiner's cursor inside it.  Dropping   *)
(* it renumbers cursors (of view holders) and messages' `cur` fields (a    *)
(* CONFIG or START_MIRROR whose wait lies inside it has none left: 0).     *)
Compact(st) ==
    LET pairs   == Node \X Node
        holderCurs == {st.cursor[n] : n \in {x \in Node : st.view[x] # NoView}}
        gsCurs  == UNION {{st.chan[c][i].cur :
                              i \in {k \in 1..Len(st.chan[c]) : st.chan[c][k].kind = "GROUP_STATE"}} :
                          c \in pairs}
        low     == Min({Len(st.log)} \cup holderCurs \cup gsCurs)
        Shift(msg) == [msg EXCEPT !.cur = IF @ > low THEN @ - low ELSE 0]
        ShiftAll(q) == IF q = <<>> THEN q ELSE [i \in 1..Len(q) |-> Shift(q[i])]
    IN  IF low = 0 THEN st
        ELSE [st EXCEPT
                !.log     = SubSeq(st.log, low + 1, Len(st.log)),
                !.cursor  = [n \in Node |-> IF st.view[n] # NoView THEN st.cursor[n] - low
                                                                   ELSE st.cursor[n]],
                !.chan    = [c \in pairs |-> ShiftAll(st.chan[c])],
                !.dchan   = [c \in pairs |-> ShiftAll(st.dchan[c])],
                !.durable = Replay(st, low)]

(* Assign every primed variable from the compacted successor record. *)
Commit(st) ==
    LET c == Compact(st)
    IN  /\ access'      = c.access
        /\ phase'       = c.phase
        /\ cursor'      = c.cursor
        /\ view'        = c.view
        /\ log'         = c.log
        /\ chan'        = c.chan
        /\ cfg'         = c.cfg
        /\ resVer'      = c.resVer
        /\ dataCurrent' = c.dataCurrent
        /\ crashes'     = c.crashes
        /\ restarts'    = c.restarts
        /\ cfgChanges'  = c.cfgChanges
        /\ durable'     = c.durable
        /\ inc'         = c.inc
        /\ data'        = c.data
        /\ fence'       = c.fence
        /\ epoch'       = c.epoch
        /\ stale'       = c.stale
        /\ dchan'       = c.dchan
        /\ writes'      = c.writes
        /\ broken'      = c.broken
        /\ resFailures' = c.resFailures

(***************************************************************************)
(* Effects on a successor record e (Python `_Effects`)                     *)
(***************************************************************************)
(* A point-to-point send addresses incarnation dinc of dst; it is lost if  *)
(* that incarnation has failed (dst is down, or has restarted since).       *)
Send(e, src, dst, dinc, m) ==
    IF e.phase[dst] = "down" \/ e.inc[dst] # dinc THEN e
    ELSE [e EXCEPT !.chan[<<src, dst>>] = Append(@, m)]

(* Send m from src to every element x of the sequence dsts except src, in  *)
(* order, addressing incarnation incs[x].                                   *)
SendAll(e, src, dsts, incs, m) ==
    LET F[i \in 0..Len(dsts)] ==
          IF i = 0 THEN e
          ELSE IF dsts[i] = src THEN F[i - 1]
          ELSE Send(F[i - 1], src, dsts[i], incs[dsts[i]], m)
    IN  F[Len(dsts)]

Pop(e, src, dst) == [e EXCEPT !.chan[<<src, dst>>] = Tail(@)]

Multicast(e, m) == [e EXCEPT !.log = Append(@, m)]

SetCfg(e, n, r, v) == [e EXCEPT !.cfg[n][r] = v]

(* A report of n's current incarnation, of kind k about r, is in the stream past n's cursor. *)
Reported(e, n, k, r) ==
    \E i \in (e.cursor[n] + 1)..Len(e.log) : e.log[i] = Msg(k, n, e.inc[n], r, {})

(* n multicasts that r failed or came back, unless such a report of its own is undelivered. *)
(* A primary host reporting its production copy failed abdicates: it cannot answer *)
(* its pending writes.                                                             *)
Report(e, n, k, r) ==
    IF Reported(e, n, k, r) THEN e
    ELSE LET e1 == Multicast(e, Msg(k, n, e.inc[n], r, {}))
         IN  IF k = "RES_FAIL" /\ e.view[n] # NoView /\ IsPrimaryHost(e.view[n], n) /\ e.view[n].prim = r
               THEN [e1 EXCEPT !.writes = [w \in Writes |->
                       IF e1.writes[w].st = "pending" /\ e1.writes[w].by = n
                         THEN [e1.writes[w] EXCEPT !.st = "unknown"] ELSE e1.writes[w]]]
               ELSE e1

(* n has reported that its view's primary resource failed and has not delivered the   *)
(* report yet: it knows its production copy is gone and no longer acts as primary host. *)
Abdicated(n, gs) == Reported(S, n, "RES_FAIL", gs.prim)

(* n, holding view gs, believes it is the primary host. *)
BelievesPrimary(n, gs) == IsPrimaryHost(gs, n) /\ ~Abdicated(n, gs)

DSend(e, src, dst, dinc, m) ==
    IF e.inc[dst] # dinc THEN e  \* for a previous incarnation: never received
    ELSE [e EXCEPT !.dchan[<<src, dst>>] = Append(@, m)]

DPop(e, src, dst) == [e EXCEPT !.dchan[<<src, dst>>] = Tail(@)]

(* n's process ends: its data channels go, and its pending writes stay unanswered. *)
StopWriter(e, n) ==
    [e EXCEPT !.dchan  = [c \in Node \X Node |-> IF c[1] = n \/ c[2] = n THEN <<>> ELSE e.dchan[c]],
              !.writes = [w \in Writes |->
                            IF e.writes[w].st = "pending" /\ e.writes[w].by = n
                              THEN [e.writes[w] EXCEPT !.st = "unknown"]
                              ELSE e.writes[w]]]

(* Write w now waits for the mirrors in ws; with none left it is acknowledged. *)
Settle(e, w, ws) ==
    [e EXCEPT !.writes[w].wait = ws, !.writes[w].st = IF ws = {} THEN "acked" ELSE "pending"]

(* A joiner takes a group state, probes its access and multicasts ACCESS. *)
AdoptState(e, n, gs, cur) ==
    Multicast([e EXCEPT !.view[n] = gs, !.cursor[n] = cur, !.phase[n] = "waitPlace"],
              AccessMsg(n, e.inc[n], e.access[n]))

(* n has delivered its own ACCESS: rejected, new host, or waiting for CONFIG. *)
OwnPlacement(e, n, gs2) ==
    LET r == ResOf(gs2, n)
    IN  IF gs2.status[n] = "absent"
          THEN [e EXCEPT !.phase[n] = "rejected", !.view[n] = NoView, !.cursor[n] = 0]
        ELSE IF gs2.host[r] = n /\ r \notin e.broken
          THEN \* a new host reads the configuration from the resource
               [Multicast(SetCfg(e, n, r, e.resVer[r]), JoinDoneMsg(n, e.inc[n]))
                  EXCEPT !.phase[n] = "member"]
        ELSE IF gs2.host[r] = n   \* the read failed: it waits for the resource to come back
          THEN Report([e EXCEPT !.phase[n] = "waitConfig"], n, "RES_FAIL", r)
        ELSE [e EXCEPT !.phase[n] = "waitConfig"]

(* What n does for resource r it hosts after delivering m (gs -> gs2); own *)
(* says that m is from n's current incarnation.                             *)
HostDuty(e, n, gs, gs2, m, own, r) ==
    LET takeover == gs.host[r] # n /\ ~(m.kind = "ACCESS" /\ own)
    IN
    IF gs2.host[r] # n THEN e
    ELSE IF (takeover \/ r \in gs.lost) /\ r \in gs2.lost
      THEN e  \* a failed resource cannot be read: the host waits for its repair
    ELSE IF (takeover \/ r \in gs.lost) /\ r \in e.broken
      THEN Report(e, n, "RES_FAIL", r)
    ELSE IF takeover \/ r \in gs.lost
      THEN \* takeover or repair: read the configuration from the resource, push it to the subgroup
           LET e1 == SetCfg(e, n, r, e.resVer[r])
               e2 == IF e1.phase[n] = "waitConfig"
                       THEN [Multicast(e1, JoinDoneMsg(n, e1.inc[n])) EXCEPT !.phase[n] = "member"]
                       ELSE e1
           IN  SendAll(e2, n, gs2.sub[r], gs2.inc, ConfigMsg(r, e2.cfg[n][r], e2.cursor[n]))
    ELSE IF /\ m.kind = "ACCESS"
            /\ ~own
            /\ ResOf(gs2, m.node) = r
            /\ gs.status[m.node] = "joining"
      THEN Send(e, n, m.node, m.inc, ConfigMsg(r, e.cfg[n][r], e.cursor[n]))
    ELSE e

HostDuties(e, n, gs, gs2, m, own) ==
    LET F[i \in 0..NumRes] == IF i = 0 THEN e ELSE HostDuty(F[i - 1], n, gs, gs2, m, own, i)
    IN  F[NumRes]

(* The primary host starts mirroring to new backup hosts (all of them if it *)
(* just became primary host); a failover makes the old primary copy stale.  *)
(* A new primary host fences its production copy: its epoch is one above   *)
(* any the copy has accepted, so every earlier primary host's writes are    *)
(* refused from now on.  The resynchronisation copies the production copy  *)
(* as it is now; later writes follow it on the data channel.  A pending    *)
(* write stops waiting for a mirror whose host changed (the resynchronis-  *)
(* ation just sent copies it) or that has no mirroring any more.           *)
PrimaryDuties(e, n, gs, gs2) ==
    IF ~UsablePrimaryHost(gs2, n) \/ Reported(e, n, "RES_FAIL", gs2.prim) THEN e
    ELSE
      LET became == ~UsablePrimaryHost(gs, n) \/ Reported(S, n, "RES_FAIL", gs.prim)
          e0 == IF became /\ gs2.prim # gs.prim
                  THEN [e EXCEPT !.dataCurrent[gs.prim] = FALSE]
                  ELSE e
          e1 == IF became /\ DataPath
                  THEN [e0 EXCEPT !.epoch[n] = e0.fence[gs2.prim] + 1,
                                  !.fence[gs2.prim] = e0.fence[gs2.prim] + 1]
                  ELSE e0
          StartMirror(ee, b) == \* START_MIRROR to b's host, if b has one
              IF gs2.host[b] = NoNode THEN ee
              ELSE IF gs2.prim \in ee.broken   \* the production copy cannot be read
                THEN Report(ee, n, "RES_FAIL", gs2.prim)
              ELSE Send(ee, n, gs2.host[b], gs2.inc[gs2.host[b]],
                        StartMirrorMsg(b, gs2.rounds[b], ee.cursor[n], ee.data[gs2.prim], ee.epoch[n]))
          Duty(ee, b) ==
              IF b = gs2.prim \/ gs2.host[b] = n THEN ee
              ELSE IF b \in gs2.lost
                THEN IF b \notin gs.lost  \* mirroring to b stopped: it failed
                       THEN [ee EXCEPT !.dataCurrent[b] = FALSE]
                       ELSE ee
              ELSE IF became THEN StartMirror(ee, b)
              ELSE IF gs2.host[b] # gs.host[b] \/ b \in gs.lost  \* a new backup host, or b repaired
                THEN StartMirror(IF gs.host[b] # NoNode /\ b \notin gs.lost  \* mirroring to b stopped
                                   THEN [ee EXCEPT !.dataCurrent[b] = FALSE]
                                   ELSE ee,
                                 b)
              ELSE ee
          F[i \in 0..NumRes] == IF i = 0 THEN e1 ELSE Duty(F[i - 1], i)
          keep == {b \in Res : gs2.host[b] = gs.host[b] /\ gs2.mirror[b] # "none"}
          Keep(ee, w) ==
              IF ee.writes[w].st = "pending" /\ ee.writes[w].by = n /\ ~(ee.writes[w].wait \subseteq keep)
                THEN Settle(ee, w, ee.writes[w].wait \cap keep)
                ELSE ee
          G[i \in 0..MaxWrites] == IF i = 0 THEN F[NumRes] ELSE Keep(G[i - 1], i)
      IN  G[MaxWrites]

(* The sponsor sends the group state to joiners: to every waiting joiner   *)
(* when it has just become sponsor, else to the joiner whose JOIN this is. *)
SponsorDuties(e, n, gs, gs2, m) ==
    IF Sponsor(gs2) # n THEN e
    ELSE
      LET st == GroupStateMsg(gs2, e.cursor[n])
          to == {j \in Node : /\ gs2.status[j] = "joining"
                              /\ j # n
                              /\ e.phase[j] # "down"        \* as Send(e, n, j, gs2.inc[j], st)
                              /\ e.inc[j] = gs2.inc[j]}
      IN  IF Sponsor(gs) # n
            THEN [e EXCEPT !.chan = [c \in Node \X Node |->
                                       IF c[1] = n /\ c[2] \in to THEN Append(e.chan[c], st)
                                       ELSE e.chan[c]]]
          ELSE IF m.kind = "JOIN" /\ gs2.status[m.node] = "joining"
            THEN Send(e, n, m.node, m.inc, st)
          ELSE e

(***************************************************************************)
(* Initial states: one per access relation (every wiring)                  *)
(***************************************************************************)
Init ==
    /\ access \in [Node -> SUBSET Res]
    /\ phase = [n \in Node |-> "out"]
    /\ cursor = [n \in Node |-> 0]
    /\ view = [n \in Node |-> NoView]
    /\ log = <<>>
    /\ chan = [c \in Node \X Node |-> <<>>]
    /\ cfg = [n \in Node |-> [r \in Res |-> 0]]
    /\ resVer = [r \in Res |-> 1]
    /\ dataCurrent = [r \in Res |-> r = 1]
    /\ crashes = 0
    /\ restarts = 0
    /\ cfgChanges = 0
    /\ durable = InitialGroupState
    /\ inc = [n \in Node |-> 0]
    /\ data = [r \in Res |-> <<>>]
    /\ fence = [r \in Res |-> 0]
    /\ epoch = [n \in Node |-> 0]
    /\ stale = [n \in Node |-> NoView]
    /\ dchan = [c \in Node \X Node |-> <<>>]
    /\ writes = [w \in Writes |-> NoWrite]
    /\ broken = {}
    /\ resFailures = 0

(***************************************************************************)
(* Actions                                                                 *)
(***************************************************************************)
(* Node n multicasts JOIN(n). *)
Join(n) ==
    /\ phase[n] = "out"
    /\ Commit([Multicast(S, JoinMsg(n, inc[n])) EXCEPT !.phase[n] = "waitState"])

(* n takes the head GROUP_STATE from src; a joiner adopts it, anyone else drops it. *)
ReceiveGroupState(src, n) ==
    LET q == chan[<<src, n>>]
    IN  /\ q # <<>>
        /\ Head(q).kind = "GROUP_STATE"
        /\ LET e == Pop(S, src, n)
           IN  Commit(IF phase[n] = "waitState" THEN AdoptState(e, n, Head(q).gs, Head(q).cur)
                      ELSE e)

(* A joiner with no live state holder left takes the group state from the durable stream. *)
RecoverGroupState(n) ==
    /\ phase[n] = "waitState"
    /\ \A x \in Node \ {n} : phase[x] \notin HoldsView
    /\ Commit(AdoptState(S, n, Replay(S, Len(log)), Len(log)))

(* n delivers the next ordered message and acts on it. *)
Deliver(n) ==
    /\ phase[n] \in HoldsView
    /\ cursor[n] < Len(log)
    /\ LET gs  == view[n]
           m   == log[cursor[n] + 1]
           gs2 == ApplyMessage(gs, m)
           e0  == [S EXCEPT !.view[n] = gs2, !.cursor[n] = cursor[n] + 1]
           own == m.node = n /\ m.inc = inc[n]
           e1  == IF m.kind = "ACCESS" /\ own THEN OwnPlacement(e0, n, gs2) ELSE e0
       IN  Commit(IF e1.phase[n] = "rejected" THEN e1
                  ELSE SponsorDuties(PrimaryDuties(HostDuties(e1, n, gs, gs2, m, own), n, gs, gs2),
                                     n, gs, gs2, m))

(* n may take a CONFIG or START_MIRROR once its own placement is delivered and it *)
(* has delivered everything the sender had when sending: then its view knows what  *)
(* the sender's did (a lagging new backup host would otherwise drop START_MIRROR).  *)
CaughtUp(n, msg) == phase[n] # "waitPlace" /\ cursor[n] >= msg.cur

(* n takes the head CONFIG from src, once caught up. *)
ReceiveConfig(src, n) ==
    LET q == chan[<<src, n>>]
    IN  /\ q # <<>>
        /\ Head(q).kind = "CONFIG"
        /\ CaughtUp(n, Head(q))
        /\ LET msg  == Head(q)
               e    == Pop(S, src, n)
               mine == view[n] # NoView /\ ResOf(view[n], n) = msg.res
               e1   == SetCfg(e, n, msg.res, msg.ver)
           IN  Commit(IF phase[n] \in {"waitConfig", "member"} /\ mine
                        THEN IF phase[n] = "waitConfig"
                               THEN [Multicast(e1, JoinDoneMsg(n, inc[n])) EXCEPT !.phase[n] = "member"]
                               ELSE e1
                        ELSE e)

(* n takes the head START_MIRROR from src (once caught up); a backup host synchronises and reports. *)
ReceiveStartMirror(src, n) ==
    LET q == chan[<<src, n>>]
    IN  /\ q # <<>>
        /\ Head(q).kind = "START_MIRROR"
        /\ CaughtUp(n, Head(q))
        /\ LET msg == Head(q)
               r   == msg.res
               e   == Pop(S, src, n)
               e1  == IF fence[r] <= msg.ep
                        THEN [e EXCEPT !.data[r] = msg.data, !.fence[r] = msg.ep]
                        ELSE e
           \* dropped unless n hosts the backup in its view and the sender is the primary host
           \* there (a deposed one's resynchronisation is stale), and unless it is of an
           \* earlier round or n has reported the copy failed
           IN  Commit(IF /\ phase[n] = "member"
                         /\ view[n] # NoView
                         /\ view[n].host[r] = n
                         /\ r # view[n].prim
                         /\ r \notin view[n].lost
                         /\ IsPrimaryHost(view[n], src)
                         /\ msg.ver = view[n].rounds[r]
                         /\ ~Reported(S, n, "RES_FAIL", r)
                        THEN IF r \in broken   \* the copy cannot be written
                               THEN Report(e, n, "RES_FAIL", r)
                               ELSE Multicast([e1 EXCEPT !.dataCurrent[r] = TRUE], MirrorActiveMsg(n, inc[n], r, msg.ver))
                        ELSE e)

(* Host n changes r's configuration and sends the new version to its subgroup. *)
ChangeConfig(n, r) ==
    /\ phase[n] = "member"
    /\ view[n] # NoView
    /\ view[n].host[r] = n
    /\ cfgChanges < MaxConfigChanges
    /\ r \notin broken \cup view[n].lost
    /\ LET v == resVer[r] + 1
           e == [SetCfg(S, n, r, v) EXCEPT !.resVer[r] = v, !.cfgChanges = @ + 1]
       IN  Commit(SendAll(e, n, view[n].sub[r], view[n].inc, ConfigMsg(r, v, cursor[n])))

(* What the group sees when n fails: FAIL(n), and n's group channels and view gone. *)
Fail(e, n) ==
    Multicast([e EXCEPT !.phase[n] = "down",
                        !.view[n] = NoView,
                        !.cursor[n] = 0,
                        !.cfg[n] = [r \in Res |-> 0],
                        !.chan = [c \in Node \X Node |->
                                    IF c[1] = n \/ c[2] = n THEN <<>> ELSE e.chan[c]],
                        !.crashes = @ + 1],
              FailMsg(n, inc[n]))

(* Group member n crashes; the cluster multicasts FAIL(n) and drops n's channels. *)
Crash(n) ==
    /\ phase[n] \in InGroup
    /\ crashes < MaxFailures
    /\ Commit(StopWriter([Fail(S, n) EXCEPT !.epoch[n] = 0], n))

(* Primary host n stops past its lease: the group fails it (FAIL(n)), but n keeps  *)
(* running on the view it had, still believing it is the primary host, with its   *)
(* data channels open.                                                            *)
Pause(n) ==
    /\ DataPath
    /\ phase[n] = "member"
    /\ view[n] # NoView
    /\ IsPrimaryHost(view[n], n)
    /\ crashes < MaxFailures
    /\ Commit([Fail(S, n) EXCEPT !.stale[n] = view[n]])

(* Failed node n restarts as a new incarnation, outside the group (a paused one stops acting). *)
Restart(n) ==
    /\ phase[n] = "down"
    /\ restarts < MaxRestarts
    /\ Commit(StopWriter([S EXCEPT !.phase[n] = "out", !.restarts = @ + 1, !.inc[n] = @ + 1,
                                    !.stale[n] = NoView, !.epoch[n] = 0], n))

(* The view under which n acts as primary host: its own as a member, or a paused node's. *)
ActingView(n) == IF phase[n] = "member" THEN view[n] ELSE stale[n]

ActsAsPrimary(n) == ActingView(n) # NoView /\ IsPrimaryHost(ActingView(n), n)

(* A client submits the next write to n, which believes it is the primary host.  n  *)
(* applies it to the production copy under its epoch (refused if the copy has     *)
(* accepted a newer one) and sends it to every backup host whose mirror is         *)
(* synchronising or active; it is acknowledged once each of those has acked it.   *)
Write(n) ==
    /\ ActsAsPrimary(n)
    /\ ActingView(n).prim \notin ActingView(n).lost
    /\ phase[n] = "member" => ~Abdicated(n, view[n])
    /\ {x \in Writes : writes[x].st = "none"} # {}  \* not \E: TLC would take one step per witness
    /\ LET gs   == ActingView(n)
           w    == Min({x \in Writes : writes[x].st = "none"})
           prod == gs.prim
           ep   == epoch[n]
           pos  == Len(data[prod]) + 1
           cur  == IF phase[n] = "member" THEN cursor[n] ELSE 0  \* a paused node's position is gone
           to   == {b \in Res : b # prod /\ gs.host[b] \notin {NoNode, n} /\ gs.mirror[b] # "none"}
           e0   == [S EXCEPT !.data[prod] = Append(@, w), !.fence[prod] = ep,
                             !.writes[w] = [NoWrite EXCEPT !.by = n, !.pos = pos, !.ep = ep]]
           F[i \in 0..NumRes] ==
               IF i = 0 THEN e0
               ELSE IF i \in to THEN DSend(F[i - 1], n, gs.host[i], gs.inc[gs.host[i]], WriteMsg(w, i, pos, ep, cur))
               ELSE F[i - 1]
           refused == [S EXCEPT !.writes[w] = [NoWrite EXCEPT !.st = "refused", !.by = n, !.ep = ep]]
       IN  Commit(IF prod \in broken   \* an I/O error: the client is told, a member reports it
                    THEN IF phase[n] = "member" THEN Report(refused, n, "RES_FAIL", prod) ELSE refused
                  ELSE IF fence[prod] > ep THEN refused
                  ELSE Settle(F[NumRes], w, to))

(* Backup host n takes the head WRITE from src: applies it in order and acks it.   *)
(* n takes it once it has delivered what the writer had; it drops a write from a   *)
(* node that is not the primary host in its view, for a copy it does not host, or  *)
(* of an epoch older than its copy has accepted.  The resynchronisation and the    *)
(* writes after it are one stream: a write waits while a START_MIRROR for its      *)
(* mirror from the same sender is in flight, and a write past the copy's end waits. *)
ReceiveWrite(src, n) ==
    LET q == dchan[<<src, n>>]
    IN  /\ q # <<>>
        /\ Head(q).kind = "WRITE"
        /\ LET m == Head(q)
               b == m.res
               entitled == /\ phase[n] = "member"
                           /\ view[n].host[b] = n
                           /\ b # view[n].prim
                           /\ b \notin view[n].lost
                           /\ IsPrimaryHost(view[n], src)
               fenced  == fence[b] > m.ep
               applies == entitled /\ ~fenced /\ m.pos = Len(data[b]) + 1
               holds   == entitled /\ ~fenced /\ m.pos <= Len(data[b]) /\ data[b][m.pos] = m.w
               e  == DPop(S, src, n)
               e1 == IF applies THEN [e EXCEPT !.data[b] = Append(@, m.w), !.fence[b] = m.ep] ELSE e
           IN  /\ ~\E i \in 1..Len(chan[<<src, n>>]) :
                     chan[<<src, n>>][i].kind = "START_MIRROR" /\ chan[<<src, n>>][i].res = b
               /\ view[n] # NoView => /\ CaughtUp(n, m)
                                      /\ ~(entitled /\ b \notin broken /\ ~fenced /\ m.pos > Len(data[b]) + 1)
               /\ Commit(IF view[n] = NoView THEN e
                         \* the copy cannot be written: the write is dropped unanswered
                         ELSE IF entitled /\ b \in broken THEN Report(e, n, "RES_FAIL", b)
                         ELSE IF applies \/ holds THEN DSend(e1, n, src, view[n].inc[src], AckMsg(m.w, b))
                         ELSE e)

(* Writer n takes the head ACK from src: the mirror it names holds the write. *)
ReceiveAck(src, n) ==
    LET q == dchan[<<src, n>>]
    IN  /\ q # <<>>
        /\ Head(q).kind = "ACK"
        /\ LET m == Head(q)
               e == DPop(S, src, n)
           IN  Commit(IF writes[m.w].st = "pending" /\ writes[m.w].by = n
                        THEN Settle(e, m.w, writes[m.w].wait \ {m.res})
                        ELSE e)

(* Resource r fails: nobody can reach it; what it holds stays on it, out of reach. *)
FailResource(r) ==
    /\ r \notin broken
    /\ resFailures < MaxResourceFailures
    /\ Commit([S EXCEPT !.broken = @ \cup {r}, !.resFailures = @ + 1])

(* Failed resource r comes back, holding what it held when it failed (stale by now). *)
RepairResource(r) ==
    /\ r \in broken
    /\ Commit([S EXCEPT !.broken = @ \ {r}])

(* n may report r: it is r's host in its own view, placed, in the group. *)
Reporter(n, r) ==
    /\ phase[n] \in {"waitConfig", "member"}
    /\ view[n].host[r] = n

(* Host n finds its resource r failed (an I/O error on a probe) and multicasts RES_FAIL. *)
ReportFailure(n, r) ==
    /\ Reporter(n, r)
    /\ r \in broken
    /\ r \notin view[n].lost
    /\ ~Reported(S, n, "RES_FAIL", r)
    /\ Commit(Report(S, n, "RES_FAIL", r))

(* Host n finds its failed resource r reachable again and multicasts RES_REPAIR. *)
ReportRepair(n, r) ==
    /\ Reporter(n, r)
    /\ r \notin broken
    /\ r \in view[n].lost
    /\ ~Reported(S, n, "RES_REPAIR", r)
    /\ Commit(Report(S, n, "RES_REPAIR", r))

Next ==
    \/ \E n \in Node :
          \/ Join(n)
          \/ RecoverGroupState(n)
          \/ Deliver(n)
          \/ Crash(n)
          \/ Restart(n)
          \/ Write(n)
          \/ Pause(n)
          \/ \E r \in Res : ChangeConfig(n, r) \/ ReportFailure(n, r) \/ ReportRepair(n, r)
    \/ \E r \in Res : FailResource(r) \/ RepairResource(r)
    \/ \E src, n \in Node :
          \/ ReceiveGroupState(src, n)
          \/ ReceiveConfig(src, n)
          \/ ReceiveStartMirror(src, n)
          \/ ReceiveWrite(src, n)
          \/ ReceiveAck(src, n)

(* Weak fairness per action instance for the protocol's own steps; the          *)
(* environment's Crash, Pause, Restart, ChangeConfig, Write, FailResource and     *)
(* RepairResource are not fair                                                 *)
(* (they may never happen). explorer/liveness.py checks exactly this fairness    *)
(* (UNFAIR_ACTIONS).                                                            *)
Fairness ==
    /\ \A n \in Node :
          /\ WF_vars(Join(n))
          /\ WF_vars(RecoverGroupState(n))
          /\ WF_vars(Deliver(n))
          /\ \A r \in Res : WF_vars(ReportFailure(n, r)) /\ WF_vars(ReportRepair(n, r))
    /\ \A src, n \in Node :
          /\ WF_vars(ReceiveGroupState(src, n))
          /\ WF_vars(ReceiveConfig(src, n))
          /\ WF_vars(ReceiveStartMirror(src, n))
          /\ WF_vars(ReceiveWrite(src, n))
          /\ WF_vars(ReceiveAck(src, n))

Spec == Init /\ [][Next]_vars /\ Fairness

Symmetry == Permutations(Node)

(***************************************************************************)
(* Invariants (protocol/invariants.py)                                     *)
(***************************************************************************)
Holders == {n \in Node : view[n] # NoView}

GroupStateOK(gs) ==
    /\ gs.prim \in Res
    /\ DOMAIN gs.sub = Res
    /\ \A r \in Res : IsSeqOf(gs.sub[r], Node)
    /\ gs.host \in [Res -> Node \cup {NoNode}]
    /\ gs.mirror \in [Res -> Mirrors]
    /\ gs.status \in [Node -> Statuses]
    /\ gs.acc \in [Node -> SUBSET Res]
    /\ gs.inc \in [Node -> 0..MaxRestarts]
    /\ gs.lost \subseteq Res
    /\ gs.rounds \in [Res -> 0..(2 * MaxResourceFailures)]

MsgOK(m) == m \in [kind : MsgKinds, node : Node, inc : 0..MaxRestarts, res : Res \cup {0}, rset : SUBSET Res,
                   ver : 0..(2 * MaxResourceFailures)]

P2POK(m) ==
    /\ m.kind \in P2PKinds
    /\ m.res \in Res \cup {0}
    /\ m.ver \in 0..(1 + MaxConfigChanges + 2 * MaxResourceFailures)
    /\ IF m.kind = "GROUP_STATE" THEN GroupStateOK(m.gs) ELSE m.gs = NoView
    /\ m.cur \in 0..Len(log)
    /\ IsSeqOf(m.data, Writes)
    /\ m.ep \in Epochs

DataMsgOK(m) ==
    m \in [kind : DataKinds, w : Writes, res : Res, pos : Nat, ep : Epochs, cur : 0..Len(log)]

WriteOK(x) ==
    x \in [st : WriteStatuses, by : Node \cup {NoNode}, pos : Nat, ep : Epochs, wait : SUBSET Res]

TypeOK ==
    /\ access \in [Node -> SUBSET Res]
    /\ phase \in [Node -> Phases]
    /\ cursor \in [Node -> 0..Len(log)]
    /\ DOMAIN view = Node
    /\ \A n \in Node : (view[n] # NoView) <=> (phase[n] \in HoldsView)
    /\ \A n \in Holders : /\ GroupStateOK(view[n])
                          /\ view[n].mirror[view[n].prim] = "none"
    /\ \A i \in 1..Len(log) : MsgOK(log[i])
    /\ DOMAIN chan = Node \X Node
    /\ \A c \in Node \X Node : \A i \in 1..Len(chan[c]) : P2POK(chan[c][i])
    /\ resVer \in [Res -> 1..(1 + MaxConfigChanges)]
    /\ cfg \in [Node -> [Res -> 0..(1 + MaxConfigChanges)]]
    /\ \A n \in Node, r \in Res : cfg[n][r] <= resVer[r] + MaxConfigChanges
    /\ dataCurrent \in [Res -> BOOLEAN]
    /\ crashes \in 0..MaxFailures
    /\ restarts \in 0..MaxRestarts
    /\ cfgChanges \in 0..MaxConfigChanges
    /\ GroupStateOK(durable)
    /\ inc \in [Node -> 0..MaxRestarts]
    /\ \A r \in Res : IsSeqOf(data[r], Writes)
    /\ fence \in [Res -> Epochs]
    /\ epoch \in [Node -> Epochs]
    /\ \A n \in Node : stale[n] # NoView => phase[n] = "down" /\ GroupStateOK(stale[n])
    /\ \A c \in Node \X Node : \A i \in 1..Len(dchan[c]) : DataMsgOK(dchan[c][i])
    /\ DOMAIN writes = Writes /\ \A w \in Writes : WriteOK(writes[w])
    /\ broken \subseteq Res
    /\ resFailures \in 0..MaxResourceFailures

(* Safety 1: every subgroup member reaches its subgroup's resource; one subgroup each. *)
SubgroupAccess ==
    \A n \in Holders :
      LET gs == view[n]
      IN  \A r \in Res : \A i \in 1..Len(gs.sub[r]) :
            /\ r \in access[gs.sub[r][i]]
            /\ \A r2 \in Res : \A i2 \in 1..Len(gs.sub[r2]) :
                  <<r2, i2>> # <<r, i>> => gs.sub[r2][i2] # gs.sub[r][i]

(* Safety 2 (per view): a host is a member of its subgroup, and hosts one resource. *)
HostInSubgroup ==
    \A n \in Holders :
      LET gs == view[n]
      IN  /\ \A r1, r2 \in Res : r1 # r2 /\ gs.host[r1] # NoNode => gs.host[r1] # gs.host[r2]
          /\ \A r \in Res : gs.host[r] # NoNode =>
                /\ InSeq(gs.host[r], gs.sub[r])
                /\ gs.status[gs.host[r]] # "absent"

(* Safety 2 (across views): no two live nodes both believe they host the same resource. *)
UniqueHost ==
    \A n1, n2 \in Holders : \A r \in Res :
      (view[n1].host[r] = n1 /\ view[n2].host[r] = n2) => n1 = n2

(* Safety 3: no two live nodes each believe they are the primary host, lagging views included. *)
NoSplitBrain ==
    \A n1, n2 \in Holders :
      (BelievesPrimary(n1, view[n1]) /\ BelievesPrimary(n2, view[n2])) => n1 = n2

(* Safety 4: nodes that delivered the same prefix hold identical group state. *)
ViewsAgree ==
    \A n1, n2 \in Holders : cursor[n1] = cursor[n2] => view[n1] = view[n2]

(* Safety 5: configuration in flight comes from a node that hosts that resource in its view. *)
ConfigFromHost ==
    \A c \in Node \X Node : \A i \in 1..Len(chan[c]) :
      chan[c][i].kind = "CONFIG" =>
        /\ view[c[1]] # NoView
        /\ view[c[1]].host[chan[c][i].res] = c[1]

(* Safety 5: nobody holds configuration of a resource it cannot reach. *)
ConfigReachable ==
    \A n \in Node, r \in Res : cfg[n][r] # 0 => r \in access[n]

(* Safety 5: no member holds a newer version than its host (whose copy is the resource's). *)
ConfigNotNewerThanHost ==
    \A n \in Node, r \in Res : cfg[n][r] <= resVer[r]

(* Safety 6: START_MIRROR in flight comes from the primary host, for a backup resource, *)
(* unless it is stale: its sender has since reported its production copy failed, or a  *)
(* new round has started (receivers drop it).                                          *)
MirrorFromPrimary ==
    \A c \in Node \X Node : \A i \in 1..Len(chan[c]) :
      LET m == chan[c][i]
      IN  m.kind = "START_MIRROR" =>
            /\ view[c[1]] # NoView
            /\ ~Abdicated(c[1], view[c[1]]) /\ m.ver = view[c[1]].rounds[m.res] =>
                 /\ IsPrimaryHost(view[c[1]], c[1])
                 /\ m.res # view[c[1]].prim

(* Safety 6: whoever acts as primary host does so on a copy holding the current data. *)
NoDataLoss ==
    \A n \in Holders : BelievesPrimary(n, view[n]) => dataCurrent[view[n].prim]

(* The data path.  Acked(w): w was acknowledged to its client.  The group's  *)
(* newest state, Prefix(Len(log)), names the current primary resource.       *)
Acked(w) == writes[w].st = "acked"

IsPrefix(s, t) == Len(s) <= Len(t) /\ SubSeq(t, 1, Len(s)) = s

(* Every acknowledged write is in the group's primary copy, at the position it *)
(* was acknowledged at, across any number of failovers.                        *)
NoAckedWriteLost ==
    DataPath =>
    LET prod == data[Replay(S, Len(log)).prim]
    IN  \A w \in Writes : Acked(w) => writes[w].pos <= Len(prod) /\ prod[writes[w].pos] = w

(* While the group has a primary host, an active mirror holds a prefix of the   *)
(* production copy that lacks at most writes not yet acknowledged.             *)
MirrorIsPrefix ==
    DataPath =>
    LET end == Replay(S, Len(log))
    IN  end.host[end.prim] # NoNode =>
          \A b \in Res : end.mirror[b] = "active" =>
            /\ IsPrefix(data[b], data[end.prim])
            /\ \A w \in Writes : Acked(w) => writes[w].pos <= Len(data[b])

(* Fencing: no copy took a write of an older epoch after one of a newer epoch. *)
NoStaleWrite ==
    \A r \in Res : \A i, j \in 1..Len(data[r]) :
      i < j => writes[data[r][i]].ep <= writes[data[r][j]].ep

(* Fencing: no two nodes acting as primary host, paused ones included, share an *)
(* epoch, so every takeover really puts the earlier primary hosts below it.      *)
UniqueEpochs ==
    \A n1, n2 \in Node : n1 # n2 /\ epoch[n1] # 0 /\ ActsAsPrimary(n1) /\ ActsAsPrimary(n2) =>
      epoch[n1] # epoch[n2]

(* Every write sits in every copy at most once, and only at the one position  *)
(* it was taken at (so it is acknowledged under that position alone).         *)
AckedOnce ==
    \A r \in Res : \A i \in 1..Len(data[r]) : writes[data[r][i]].pos = i

(* Safety 7: a rejected joiner (its current incarnation) is in no subgroup of any view. *)
RejectedNotPlaced ==
    \A n \in Holders : \A r \in Res : \A i \in 1..Len(view[n].sub[r]) :
      LET x == view[n].sub[r][i]
      IN  ~(phase[x] = "rejected" /\ view[n].inc[x] = inc[x])

(* Safety 7: an active member holds its resource's configuration (a member in no *)
(* subgroup of its own view holds none).                                          *)
ActiveHasConfig ==
    /\ \A n \in Node : phase[n] = "member" => LET r == ResOf(view[n], n) IN r # 0 /\ cfg[n][r] # 0
    /\ \A n \in Holders : \A x \in Holders :
          view[n].status[x] = "active" /\ view[n].inc[x] = inc[x] =>
            LET r == ResOf(view[n], x) IN r # 0 => cfg[x][r] # 0

(***************************************************************************)
(* The protocol's choices (PROTOCOL.md sections 4 and 5), stated apart from *)
(* the operators that implement them (ApplyAccess, ApplyFail, Sponsor), so *)
(* a slip made in those is caught here.  Every decision is taken on the    *)
(* delivery of an ordered message, the same by every member, so the group- *)
(* state rules are stated on each step of the ordered stream: message      *)
(* log[i] takes the group state Prefix(i - 1) to Prefix(i).  Every message *)
(* stays in `log` for at least the state it is multicast in (its sender or *)
(* a member behind it has not delivered it yet), except a FAIL that leaves *)
(* no view holder at all: HostSuccession covers that by a state clause.    *)
(***************************************************************************)
EveryStreamStep(Rule(_, _, _)) ==
    LET P == [k \in 0..Len(log) |-> Replay(S, k)]
    IN  \A i \in 1..Len(log) : Rule(P[i - 1], log[i], P[i])

(* A failed member's FAIL, delivered while the group still counts it. *)
FailOfMember(P, m) == m.kind = "FAIL" /\ P.status[m.node] # "absent"

(* Host succession in join order: when a host fails, the next member of its       *)
(* subgroup in join order (subgroups are kept in join order) becomes its host, or *)
(* it has none if no member is left; no other resource changes host.  Mirroring   *)
(* restarts to a backup's new host (while there is a primary host), and after a    *)
(* switchover, to every hosted backup.                                             *)
Resynced(Q, b) == Resync(Q.lost, Q.host, Q.prim, b)

HostSuccessionStep(P, m, Q) ==
    FailOfMember(P, m) =>
      \A r \in Res :
        /\ Q.host[r] = IF P.host[r] # m.node THEN P.host[r]
                       ELSE LET rest == Remove(P.sub[r], m.node)
                            IN  IF rest = <<>> THEN NoNode ELSE Head(rest)
        /\ P.host[r] = m.node /\ r # P.prim => Q.mirror[r] = Resynced(Q, r)
        /\ P.host[r] = m.node /\ r = P.prim /\ Q.host[r] # NoNode =>
             /\ Q.prim = P.prim
             /\ \A b \in Res \ {P.prim} : Q.mirror[b] = Resynced(Q, b)

(* The group states the system holds: the views, durable, and those in flight. *)
HeldGroupStates ==
    {view[n] : n \in Holders} \cup {durable}
    \cup UNION {{chan[c][i].gs : i \in {k \in 1..Len(chan[c]) : chan[c][k].kind = "GROUP_STATE"}} :
                c \in Node \X Node}

(* Succession in join order, as a state: every subgroup's host is its oldest member.  *)
(* It also covers the steps no log shows: a FAIL that leaves no view holder is folded *)
(* into durable at once.                                                              *)
HostSuccession ==
    /\ \A gs \in HeldGroupStates : \A r \in Res :
          gs.host[r] = IF gs.sub[r] = <<>> THEN NoNode ELSE Head(gs.sub[r])
    /\ EveryStreamStep(HostSuccessionStep)

(* Failover: the primary role moves only when the primary host fails with no other *)
(* member in the primary subgroup and some backup's mirror is synchronised; it      *)
(* moves to the first such backup in resource order, the old primary resource       *)
(* becomes a backup without a host or mirroring, and mirroring restarts to every    *)
(* other hosted backup.                                                             *)
(* A report of r's failure that the group takes: from r's host, r not yet failed. *)
LossReported(P, m, r) == m.kind = "RES_FAIL" /\ m.res = r /\ P.host[r] = m.node /\ r \notin P.lost

FailoverStep(P, m, Q) ==
    LET synced   == {b \in Res : b # P.prim /\ P.mirror[b] = "active" /\ b \notin P.lost}
        orphaned == FailOfMember(P, m) /\ P.host[P.prim] = m.node
                    /\ Remove(P.sub[P.prim], m.node) = <<>>
    IN  /\ (Q.prim # P.prim) <=> ((orphaned \/ LossReported(P, m, P.prim)) /\ synced # {})
        /\ Q.prim # P.prim =>
             /\ Q.prim \in synced /\ \A b \in synced : Q.prim <= b
             /\ Q.mirror[P.prim] = "none"
             /\ orphaned => Q.host[P.prim] = NoNode
             /\ \A b \in Res \ {P.prim, Q.prim} :
                  Q.mirror[b] = IF Q.host[b] # NoNode /\ b \notin Q.lost THEN "syncing" ELSE "none"

FailoverToFirstSynced == EveryStreamStep(FailoverStep)

(* r1 comes before r2 in the group's current resource order: the primary resource *)
(* first, then the backups in resource order.                                     *)
Before(gs, r1, r2) ==
    \/ r1 = gs.prim /\ r2 # gs.prim
    \/ r1 # gs.prim /\ r2 # gs.prim /\ r1 < r2

(* Placement: a joiner that reaches some resource joins the subgroup of the first   *)
(* one it reaches (failed resources count as unreachable)                            *)
(* one it reaches in the group's current order, last in join order, with its whole *)
(* access set recorded, and becomes its host if it has none; no other subgroup     *)
(* changes.                                                                        *)
PlacementStep(P, m, Q) ==
    m.kind = "ACCESS" /\ P.status[m.node] = "joining" /\ m.rset \ P.lost # {} =>
      \E r \in m.rset \ P.lost :
        /\ \A r2 \in m.rset \ P.lost : ~Before(P, r2, r)
        /\ Q.sub[r] = Append(P.sub[r], m.node)
        /\ \A r2 \in Res \ {r} : Q.sub[r2] = P.sub[r2]
        /\ Q.host[r] = IF P.host[r] = NoNode THEN m.node ELSE P.host[r]
        /\ Q.status[m.node] = "placed"
        /\ Q.acc[m.node] = m.rset

PlacementFirstReachable == EveryStreamStep(PlacementStep)

(* A rejected joiner (one that reaches no resource, or only failed ones) leaves nothing behind: the *)
(* group state is as before its JOIN but for its recorded incarnation, and the     *)
(* node holds no configuration (nor, by TypeOK, a view).                           *)
RejectionStep(P, m, Q) ==
    m.kind = "ACCESS" /\ P.status[m.node] = "joining" /\ m.rset \subseteq P.lost =>
      Q = [P EXCEPT !.status[m.node] = "absent"]

RejectionLeavesNothing ==
    /\ EveryStreamStep(RejectionStep)
    /\ \A n \in Node : phase[n] = "rejected" => \A r \in Res : cfg[n][r] = 0

(* The sponsor rule: a group state in flight to a joiner comes from the sponsor of   *)
(* the state it carries (its primary host, or with none the host of its first       *)
(* hosted resource in resource order) and is for that joiner's current incarnation. *)
SponsorRule ==
    \A c \in Node \X Node : \A i \in 1..Len(chan[c]) :
      chan[c][i].kind = "GROUP_STATE" =>
        LET gs == chan[c][i].gs
            j  == c[2]
        IN  /\ gs.status[j] = "joining" /\ gs.inc[j] = inc[j]
            /\ IF gs.host[gs.prim] # NoNode
                 THEN c[1] = gs.host[gs.prim]
                 ELSE \E r \in Res : c[1] = gs.host[r] /\ \A r2 \in 1..(r - 1) : gs.host[r2] = NoNode
(* Resource failures: only a resource's host reports its failure or repair, once; a *)
(* failed backup stops counting as a mirror at once (a failed primary fails over, or *)
(* all mirroring stops), and a repaired resource resynchronises before it counts.    *)
(* No other message changes which resources failed.                                 *)
ResourceFailureStep(P, m, Q) ==
    LET r == m.res
    IN  CASE m.kind = "RES_FAIL" ->
               IF ~LossReported(P, m, r) THEN Q = P
               ELSE /\ Q.lost = P.lost \cup {r}
                    /\ Q.mirror[r] = "none"
                    /\ IF r # P.prim
                         THEN Q.prim = P.prim /\ \A b \in Res \ {r} : Q.mirror[b] = P.mirror[b]
                         ELSE Q.prim # P.prim \/ \A b \in Res : Q.mirror[b] = "none"
          [] m.kind = "RES_REPAIR" ->
               IF r \notin P.lost \/ P.host[r] # m.node THEN Q = P
               ELSE /\ Q.lost = P.lost \ {r}
                    /\ Q.prim = P.prim
                    /\ Q.mirror[r] # "active"
          [] OTHER -> Q.lost = P.lost

ResourceFailureHandled == EveryStreamStep(ResourceFailureStep)

(* In every group state held, a failed resource has no mirroring, and while the *)
(* primary resource is failed no backup is mirrored.                             *)
FailedNotMirrored ==
    \A gs \in HeldGroupStates :
      /\ \A b \in gs.lost : gs.mirror[b] = "none"
      /\ gs.prim \in gs.lost => \A b \in Res : gs.mirror[b] = "none"

(***************************************************************************)
(* Inductive invariant (proofs/prove.py proves it with Z3 for every number *)
(* of nodes and resources; proofs/indinv.py is the same predicate          *)
(* on Python states).  Group-state conjuncts hold in every group state the *)
(* system holds: views, durable, GROUP_STATE payloads.  The stream-level   *)
(* conjuncts relate views to prefixes of the one ordered stream.           *)
(***************************************************************************)
GroupStates ==
    {view[n] : n \in Holders} \cup {durable}
    \cup UNION {{chan[c][i].gs : i \in {k \in 1..Len(chan[c]) : chan[c][k].kind = "GROUP_STATE"}} :
                c \in Node \X Node}

Placed(gs, x) == \E r \in Res : InSeq(x, gs.sub[r])

GroupStateInv(gs) ==
    /\ \A r \in Res : \A i \in 1..Len(gs.sub[r]) : r \in access[gs.sub[r][i]]        \* SubgroupAccess
    /\ \A r, r2 \in Res : \A x \in Node : InSeq(x, gs.sub[r]) /\ InSeq(x, gs.sub[r2]) => r = r2
    /\ \A x \in Node : Placed(gs, x) => gs.status[x] \in {"placed", "active"}        \* MemberStatus
    /\ \A r \in Res : gs.host[r] # NoNode => InSeq(gs.host[r], gs.sub[r])           \* HostInSubgroup
    /\ \A r, r2 \in Res : r # r2 /\ gs.host[r] # NoNode => gs.host[r] # gs.host[r2]
    /\ gs.mirror[gs.prim] = "none"                                                  \* PrimaryMirrorNone
    /\ \A r \in Res : gs.mirror[r] # "none" => gs.host[r] # NoNode                   \* MirrorNeedsHost

(* Stream level (proofs/stream.py): every view is a prefix of one ordered           *)
(* stream.  Positions count messages, 0..Len(log); Prefix(k) is the group state     *)
(* after the first k; JoinEnd(n) counts the messages up to and including n's        *)
(* current JOIN (0 once compaction folded it into durable); Python's join_pos + 1.  *)
Prefix(k) == Replay(S, k)

IsCurrentJoin(i, n) == log[i].kind = "JOIN" /\ log[i].node = n /\ log[i].inc = inc[n]

JoinEnd(n) ==
    IF \E i \in 1..Len(log) : IsCurrentJoin(i, n)
      THEN CHOOSE i \in 1..Len(log) : IsCurrentJoin(i, n)
      ELSE 0

ViewIsPrefix ==
    \A n \in Holders : /\ JoinEnd(n) <= cursor[n]
                       /\ cursor[n] <= Len(log)
                       /\ view[n] = Prefix(cursor[n])

StateInFlight ==
    \A c \in Node \X Node : \A i \in 1..Len(chan[c]) :
      chan[c][i].kind = "GROUP_STATE" =>
        /\ chan[c][i].cur \in 0..Len(log)
        /\ chan[c][i].gs = Prefix(chan[c][i].cur)
        /\ phase[c[2]] \notin {"out", "down"}
        /\ phase[c[2]] \in InGroup => JoinEnd(c[2]) <= chan[c][i].cur

JoinsOld ==
    \A i \in 1..Len(log) : log[i].kind = "JOIN" =>
      LET x == log[i].node
      IN  /\ log[i].inc <= inc[x]
          /\ phase[x] = "out" => log[i].inc < inc[x]
          /\ phase[x] \in InGroup /\ log[i].inc = inc[x] => i = JoinEnd(x)

IncBound == \A k \in 0..Len(log), x \in Node : Prefix(k).inc[x] <= inc[x]

OutNotJoining ==
    \A k \in 0..Len(log), x \in Node :
      phase[x] = "out" => Prefix(k).status[x] = "absent" \/ Prefix(k).inc[x] < inc[x]

JoinPosFresh ==
    \A x \in Node : phase[x] \in InGroup =>
      \A k \in 0..Len(log) :
        k < JoinEnd(x) => ~(Prefix(k).status[x] = "joining" /\ Prefix(k).inc[x] = inc[x])

NoOwnFail ==
    \A i \in 1..Len(log) : log[i].kind = "FAIL" =>
      ~(phase[log[i].node] \in InGroup /\ JoinEnd(log[i].node) < i)

HostToEnd ==
    \A h \in Node : phase[h] \in InGroup =>
      \A j \in JoinEnd(h)..Len(log), r \in Res :
        Prefix(j).host[r] = h => Prefix(Len(log)).host[r] = h

PrimToEnd ==
    \A h \in Node : phase[h] \in InGroup =>
      \A j \in JoinEnd(h)..Len(log) :
        IsPrimaryHost(Prefix(j), h) => Prefix(Len(log)).prim = Prefix(j).prim

(* Where a node is placed (in its current incarnation): AccessEnd(n) counts the      *)
(* messages up to and including n's current ACCESS (0 if none, or once compaction    *)
(* folded it into durable); Python's acc_pos + 1.  Only that ACCESS places n, so a   *)
(* node rejected by it is placed in no prefix (RejectedUnplaced), whence             *)
(* RejectedNotPlaced.                                                                *)
IsCurrentAccess(i, n) == log[i].kind = "ACCESS" /\ log[i].node = n /\ log[i].inc = inc[n]

AccessEnd(n) ==
    IF \E i \in 1..Len(log) : IsCurrentAccess(i, n)
      THEN CHOOSE i \in 1..Len(log) : IsCurrentAccess(i, n)
      ELSE 0

PlacedNow(gs, x) == gs.status[x] \in {"placed", "active"} /\ gs.inc[x] = inc[x]

AccessOnce ==
    \A i \in 1..Len(log) :
      LET x == log[i].node
      IN  /\ log[i].inc <= inc[x]
          /\ IsCurrentAccess(i, x) =>
               /\ phase[x] \notin {"out", "waitState"}
               /\ phase[x] \in InGroup => i = AccessEnd(x)

WaitingUnplaced ==
    \A k \in 0..Len(log), x \in Node : phase[x] = "waitState" => ~PlacedNow(Prefix(k), x)

PlacedAfterAccess ==
    \A x \in Holders : /\ AccessEnd(x) <= Len(log)
                       /\ \A k \in 0..Len(log) : k < AccessEnd(x) => ~PlacedNow(Prefix(k), x)

UnplacedStays ==
    \A x \in Holders :
      AccessEnd(x) > 0 /\ ~PlacedNow(Prefix(AccessEnd(x)), x) =>
        \A k \in AccessEnd(x)..Len(log) : ~PlacedNow(Prefix(k), x)

RejectedUnplaced ==
    \A k \in 0..Len(log), x \in Node : phase[x] = "rejected" => ~PlacedNow(Prefix(k), x)

(* Where a member got its configuration.  A holder's JOIN is no later than its       *)
(* ACCESS, which a node waiting for configuration or a member has delivered          *)
(* (AccessOrder); a live node's subgroup in any prefix after its JOIN is its         *)
(* subgroup in the last prefix (MemberToEnd); a prefix shows a node active in its    *)
(* current incarnation only once it is a member, until it fails (ActiveMember).      *)
(* A member becomes one with configuration for its own subgroup's resource, so       *)
(* every view that shows it active puts it in that subgroup: ActiveHasConfig.        *)
AccessOrder ==
    \A x \in Holders : /\ JoinEnd(x) <= AccessEnd(x)
                       /\ phase[x] \in {"waitConfig", "member"} => AccessEnd(x) <= cursor[x]

MemberToEnd ==
    \A h \in Node : phase[h] \in InGroup =>
      \A j \in JoinEnd(h)..Len(log), r \in Res :
        InSeq(h, Prefix(j).sub[r]) => InSeq(h, Prefix(Len(log)).sub[r])

ActiveMember ==
    \A k \in 0..Len(log), x \in Node :
      Prefix(k).status[x] = "active" /\ Prefix(k).inc[x] = inc[x] => phase[x] \in {"member", "down"}

(* Where the current data is (NoDataLoss): HostSince(r) is the first position from  *)
(* which no prefix changes r's host (Python's host_since).  An active mirror in the  *)
(* last prefix kept its host since the cursor of the (live) primary host, which     *)
(* clears dataCurrent of a backup only on delivering a change of its host; a        *)
(* START_MIRROR in flight goes to the host its resource still has.  So an active     *)
(* mirror is current, a failover promotes a current copy, and the primary resource  *)
(* of the last prefix is current, as is every live primary host's (PrimToEnd).      *)
ChangesHost(i, r) == Prefix(i).host[r] # Prefix(i - 1).host[r]

HostSince(r) ==
    IF \E i \in 1..Len(log) : ChangesHost(i, r)
      THEN CHOOSE i \in 1..Len(log) : ChangesHost(i, r) /\ \A j \in (i + 1)..Len(log) : ~ChangesHost(j, r)
      ELSE 0

NotMember ==
    \A x \in Node, r \in Res :
      phase[x] \in {"out", "down", "waitState"} => ~InSeq(x, Prefix(Len(log)).sub[r])

PlacedAfterJoin ==
    \A x \in Node, k \in 0..Len(log) : phase[x] \in InGroup /\ PlacedNow(Prefix(k), x) => JoinEnd(x) <= k

HostSinceFirst ==
    \A r \in Res, k \in 0..Len(log) :
      LET h == Prefix(k).host[r]
      IN  h # NoNode /\ phase[h] \in InGroup /\ JoinEnd(h) <= k => HostSince(r) <= k

MirrorStable ==
    \A n \in Holders, b \in Res :
      IsPrimaryHost(Prefix(Len(log)), n) /\ Prefix(Len(log)).mirror[b] = "active" => HostSince(b) <= cursor[n]

MirrorSentFresh ==
    \A c \in Node \X Node : \A i \in 1..Len(chan[c]) :
      chan[c][i].kind = "START_MIRROR" =>
        /\ Prefix(Len(log)).host[chan[c][i].res] = c[2]
        /\ HostSince(chan[c][i].res) <= cursor[c[1]]

EndMirror == \A b \in Res : Prefix(Len(log)).mirror[b] = "active" => dataCurrent[b]

EndCurrent == dataCurrent[Prefix(Len(log)).prim]

StreamInv ==
    /\ ViewIsPrefix /\ StateInFlight /\ JoinsOld
    /\ IncBound /\ OutNotJoining /\ JoinPosFresh /\ NoOwnFail
    /\ HostToEnd /\ PrimToEnd
    /\ AccessOnce /\ WaitingUnplaced /\ PlacedAfterAccess /\ UnplacedStays /\ RejectedUnplaced
    /\ AccessOrder /\ MemberToEnd /\ ActiveMember
    /\ ViewsAgree /\ UniqueHost /\ NoSplitBrain /\ ConfigFromHost /\ MirrorFromPrimary
        /\ NotMember /\ PlacedAfterJoin /\ HostSinceFirst
    /\ MirrorStable /\ MirrorSentFresh /\ EndMirror /\ EndCurrent
    /\ RejectedNotPlaced /\ ActiveHasConfig /\ NoDataLoss

IndInv ==
    /\ StreamInv
    /\ \A gs \in GroupStates : GroupStateInv(gs)
    /\ ConfigReachable
    /\ ConfigNotNewerThanHost
    /\ \A c \in Node \X Node : \A i \in 1..Len(chan[c]) :
          chan[c][i].kind = "CONFIG" =>
            /\ chan[c][i].res \in access[c[2]]                                      \* ConfigSentToReachers
            /\ chan[c][i].ver <= resVer[chan[c][i].res]                             \* ConfigSentNotNewer
            /\ chan[c][i].ver >= 1                                                  \* ConfigSentVersioned
    /\ \A r \in Res : resVer[r] >= 1                                                 \* ResourceVersioned
    /\ \A n \in Holders : \A r \in Res : view[n].host[r] = n => cfg[n][r] >= 1     \* HostHoldsConfig

(***************************************************************************)
(* Liveness (PROTOCOL.md section 6), checked under Fairness by              *)
(* `pbjoin check --liveness` (explorer/liveness.py, same names).  Not for TLC *)
(* with SYMMETRY: symmetry is unsound with per-node fairness.              *)
(***************************************************************************)

(* The live node that believes it is the primary host, if any. *)
PrimaryHosts == {n \in Holders : IsPrimaryHost(view[n], n)}

(* Resource r is a backup with a host in the primary host's view, and neither it nor *)
(* the primary resource has failed there.                                           *)
HostedBackup(r) ==
    \E ph \in PrimaryHosts : /\ r # view[ph].prim /\ view[ph].host[r] # NoNode
                             /\ r \notin view[ph].lost /\ view[ph].prim \notin view[ph].lost

MirrorActiveOrGone(r) ==
    ~HostedBackup(r) \/ \E ph \in PrimaryHosts : view[ph].mirror[r] = "active"

ConfigConverged ==
    \A n \in Node : phase[n] = "member" =>
        LET r == ResOf(view[n], n) IN cfg[n][r] = resVer[r] \/ r \in view[n].lost

(* Liveness 1: a join not interrupted by the joiner's failure ends (or waits for its *)
(* failed resource's repair, which may never come).                                *)
JoinsEnd ==
    \A n \in Node : phase[n] \in {"waitState", "waitPlace", "waitConfig"}
                    ~> \/ phase[n] \in {"member", "rejected", "down"}
                       \/ phase[n] = "waitConfig" /\ ResOf(view[n], n) \in view[n].lost

(* Liveness 2: a hosted backup gets active mirroring while a primary host exists. *)
MirroringResumes == \A r \in Res : HostedBackup(r) ~> MirrorActiveOrGone(r)

(* Liveness 3: configuration changes are bounded, so every member ends up holding *)
(* the version on its resource (its host's).                                     *)
ConfigConverges == <>[]ConfigConverged

(* Data path: a write pending at a writer that is a live member is eventually *)
(* acknowledged or refused, unless the writer fails.                          *)
WritesEnd ==
    \A w \in Writes : (writes[w].st = "pending" /\ phase[writes[w].by] = "member")
                      ~> (writes[w].st # "pending" \/ phase[writes[w].by] # "member")

(* Resource failures.  Unnoticed(r, failed): r's host (in its own view, placed) has *)
(* not delivered that r failed (failed = TRUE) or came back (FALSE) though it did. *)
Unnoticed(r, failed) ==
    /\ (r \in broken) = failed
    /\ \E n \in Holders : /\ phase[n] \in {"waitConfig", "member"}
                          /\ view[n].host[r] = n
                          /\ (r \in view[n].lost) # failed

LossNoticed == \A r \in Res : Unnoticed(r, TRUE) ~> ~Unnoticed(r, TRUE)

RepairNoticed == \A r \in Res : Unnoticed(r, FALSE) ~> ~Unnoticed(r, FALSE)

(* The production copy r failed while, in the primary host's view, backup b is      *)
(* synchronised and hosted by h, a live member: some member then serves as primary  *)
(* host on another copy, unless r comes back or h fails.                            *)
FailoverPending(r, b, h) ==
    /\ r \in broken
    /\ phase[h] = "member"
    /\ \E ph \in PrimaryHosts : /\ view[ph].prim = r
                               /\ view[ph].mirror[b] = "active"
                               /\ view[ph].host[b] = h

FailedOver(r, h) ==
    \/ r \notin broken
    \/ phase[h] # "member"
    \/ \E n \in Holders : /\ view[n].prim # r
                          /\ UsablePrimaryHost(view[n], n)
                          /\ ~Abdicated(n, view[n])

FailoverHappens == \A r, b \in Res, h \in Node : FailoverPending(r, b, h) ~> FailedOver(r, h)

=============================================================================
